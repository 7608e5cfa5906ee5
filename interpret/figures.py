"""Plotly figure builders used by the app and the report: one import for all of them.

`figures_tracks` holds the genome browser (stacked tracks on a shared x-axis); `figures_stats` the statistics
(enrichment, baselines, codon positions, metagene, periodicity, lengths, nesting, latents, levels). Colours,
fonts and stage names come from `interpret.style`. Builders take data, never read files.
"""
from interpret.figures_stats import (ANCHOR_LABELS, CLASS_ORDER, baseline_bars, chunk_length_hist,  # noqa: F401
                                     codon_position_bars, enrichment_bars, latent_scatter, levels_comparison,
                                     metagene_profiles, nesting_counts_bars, periodicity_spectrum, significance_mark)
from interpret.figures_tracks import (assign_lanes, bin_edges, binned, gc_track, genome_tracks,  # noqa: F401
                                      sequence_letters, visible_features)

__all__ = ["genome_tracks", "enrichment_bars", "baseline_bars", "codon_position_bars", "metagene_profiles",
           "periodicity_spectrum", "chunk_length_hist", "nesting_counts_bars", "latent_scatter", "levels_comparison",
           "significance_mark", "bin_edges", "binned", "gc_track", "sequence_letters", "visible_features",
           "assign_lanes", "CLASS_ORDER", "ANCHOR_LABELS"]
