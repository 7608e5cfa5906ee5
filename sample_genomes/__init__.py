"""Sample genomes by accession: the catalogue (facts, no files) and a loader (data dir → cache → NCBI)."""
from sample_genomes.catalogue import BY_KEY, CATALOGUE, DEFAULT_KEY, GenomeEntry, find
from sample_genomes.loader import (SampleNotAvailable, cache_dir, companion_path, data_dir, list_available,
                                   load_sample, resolve_path)

__all__ = ["BY_KEY", "CATALOGUE", "DEFAULT_KEY", "GenomeEntry", "find", "SampleNotAvailable", "cache_dir",
           "companion_path", "data_dir", "list_available", "load_sample", "resolve_path"]
