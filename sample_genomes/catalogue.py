"""The sample genomes: public NCBI records, named by accession. The project ships this list, never the files.

Facts (records, sizes) are those of the copies in the shared data directory (see its MANIFEST.md); on a
user's machine the same accessions are fetched from NCBI into a cache (`sample_genomes.loader`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GenomeEntry:
    """One sample genome: what it is, where it comes from, and how to translate it."""

    key: str  # short name used in the app and on the command line
    accessions: tuple[str, ...]  # NCBI nucleotide accessions of all its records
    organism: str
    description: str  # one line a biologist finds useful
    size_bp: int  # total over records
    n_records: int
    genetic_code: int  # NCBI translation table (4 for Mycoplasma, 11 otherwise)
    kind: str  # "bacterium" | "archaeon" | "phage"
    file_name: str  # the file's name in <data dir>/genomes
    companion: tuple[str, ...] = ()  # promoter/TSS tables in the data dir, relative to it

    @property
    def accession(self) -> str:
        return self.accessions[0]

    @property
    def label(self) -> str:
        """What a menu shows: organism, size and kind."""
        size = f"{self.size_bp / 1e6:.2f} Mb" if self.size_bp >= 1e6 else f"{self.size_bp / 1e3:.1f} kb"
        return f"{self.organism} ({size}, {self.kind})"


def _e(key, accessions, organism, description, size_bp, n_records, kind, file_name, code=11, companion=()):
    acc = tuple(accessions.split(",")) if isinstance(accessions, str) else tuple(accessions)
    return GenomeEntry(key, acc, organism, description, size_bp, n_records, code, kind, file_name, tuple(companion))


_ECOLI_TSS = ("annotations/ecoli/Ecoli_MG1655_regulondb_tss.csv",)

CATALOGUE: tuple[GenomeEntry, ...] = (
    # ---- bacteria
    _e("ecoli_k12", "NC_000913.3", "Escherichia coli str. K-12 substr. MG1655",
       "The reference bacterium: 4,315 CDS, 7 rRNA operons; RegulonDB promoters/TSS as a companion track",
       4_641_652, 1, "bacterium", "Escherichia_coli_K12_MG1655_GCF_000005845.2.gbff.gz", companion=_ECOLI_TSS),
    _e("shigella_flexneri_2a", "NC_004337", "Shigella flexneri 2a str. 301",
       "Close relative of E. coli with many insertion sequences and pseudogenes", 4_607_203, 1, "bacterium",
       "Shigella_flexneri_2a_301.gb.gz"),
    _e("yersinia_pestis_kim", "NC_004839,NC_004838,NC_004837,NC_004835,NC_004836,NC_004088", "Yersinia pestis KIM",
       "Plague bacterium: chromosome plus five plasmid records (pCD1, pMT1, pPCP1 class)", 4_953_402, 6,
       "bacterium", "Yersinia_pestis_KIM.gb.gz"),
    _e("vibrio_vulnificus_cmcp6", "kb|g.399.c.1", "Vibrio vulnificus CMCP6",
       "KBase export of one Vibrio chromosome; a messy file (malformed LOCUS line, non-NCBI id)", 1_844_853, 1,
       "bacterium", "Vibrio_vulnificus_CMCP6_kbase.gbk.gz"),
    _e("haemophilus_influenzae_rd", "NC_000907", "Haemophilus influenzae Rd KW20",
       "The first free-living organism sequenced (1995); compact, AT-rich genome", 1_830_138, 1, "bacterium",
       "Haemophilus_influenzae_Rd_KW20.gb.gz"),
    _e("neisseria_meningitidis_mc58", "NC_003112", "Neisseria meningitidis MC58",
       "Serogroup B meningococcus; rich in repeats and phase-variable genes", 2_272_351, 1, "bacterium",
       "Neisseria_meningitidis_MC58.gb.gz"),
    _e("neisseria_meningitidis_z2491", "NC_003116", "Neisseria meningitidis Z2491",
       "Serogroup A meningococcus; compare with MC58 for strain-level differences", 2_184_406, 1, "bacterium",
       "Neisseria_meningitidis_Z2491.gb.gz"),
    _e("brucella_melitensis_16m", "NC_003317,NC_003318", "Brucella melitensis bv. 1 str. 16M",
       "Alphaproteobacterial pathogen with two chromosomes (2.1 and 1.2 Mb)", 3_294_931, 2, "bacterium",
       "Brucella_melitensis_16M.gb.gz"),
    _e("paracoccus_scn_68_21", [f"MEES010000{i:02d}.1" for i in range(1, 88)], "Paracoccus sp. SCN 68-21",
       "Metagenome-assembled draft alphaproteobacterium in 87 contigs; no rRNA annotated", 3_375_827, 87,
       "bacterium", "Paracoccus_sp_SCN_68-21.gb.gz"),
    _e("chlamydia_trachomatis_d", "NC_000117.1", "Chlamydia trachomatis D/UW-3/CX",
       "Obligate intracellular pathogen with a reduced 1 Mb genome", 1_042_519, 1, "bacterium",
       "Chlamydia_trachomatis_DUW3CX_NC_000117.1.gbk.gz"),
    _e("mycobacterium_tuberculosis_h37rv", "NC_000962.3", "Mycobacterium tuberculosis H37Rv",
       "GC-rich (65%) actinobacterium; the tuberculosis reference strain", 4_411_532, 1, "bacterium",
       "Mycobacterium_tuberculosis_H37Rv_NC_000962.3.gbk.gz"),
    _e("prochlorococcus_ccmp1375", "NC_005042.1", "Prochlorococcus marinus subsp. marinus str. CCMP1375",
       "Low-light marine cyanobacterium (SS120); streamlined genome", 1_751_080, 1, "bacterium",
       "Prochlorococcus_marinus_CCMP1375_NC_005042.gbk.gz"),
    _e("prochlorococcus_mit9301", "NC_009091.1", "Prochlorococcus marinus str. MIT 9301",
       "High-light marine cyanobacterium; very AT-rich (31% GC)", 1_641_879, 1, "bacterium",
       "Prochlorococcus_marinus_MIT9301_NC_009091.gbk.gz"),
    _e("mycoplasma_genitalium_g37", "NC_000908.2", "Mycoplasma genitalium G37",
       "Smallest known free-living genome (580 kb); UGA codes for Trp (genetic code 4)", 580_076, 1, "bacterium",
       "Mycoplasma_genitalium_G37_NC_000908.gbk.gz", code=4),
    _e("mycoplasma_pneumoniae_fh", "NZ_CP010546.1", "Mycoplasma pneumoniae FH",
       "Wall-less respiratory pathogen; genetic code 4", 817_207, 1, "bacterium",
       "Mycoplasma_pneumoniae_FH_NZ_CP010546.gbk.gz", code=4),
    _e("mycoplasma_gallisepticum_rlow", "NC_004829.2", "Mycoplasma gallisepticum str. R(low)",
       "Avian pathogen with large antigenic gene families; genetic code 4", 1_012_800, 1, "bacterium",
       "mycoplasma_gallisepticum_NC_004829.gbk.gz", code=4),
    _e("mycoplasmoides_alvi", "NZ_JNJU01000001.1,NZ_JNJU01000002.1,NZ_KL370824.1,NZ_KL370825.1,"
       "NZ_JNJU01000007.1,NZ_JNJU01000008.1,NZ_JNJU01000009.1", "Mycoplasmoides alvi ATCC 29626",
       "Draft genome in 7 scaffolds of a bovine mycoplasma; genetic code 4", 840_640, 7, "bacterium",
       "pycirclize_mycoplasma_alvi.gbk.gz", code=4),
    # ---- archaea
    _e("methanosarcina_mazei_wwm610", "NZ_CP009509.1", "Methanosarcina mazei WWM610",
       "Methane-producing archaeon: a test of whether boundaries transfer beyond bacteria", 4_096_482, 1,
       "archaeon", "Methanosarcina_mazei_WWM610_GCF_000970165.1.gbff.gz"),
    # ---- phages
    _e("phage_lambda", "NC_001416.1", "Enterobacteria phage lambda",
       "Temperate E. coli phage; the classic model of gene regulation (cI/cro switch)", 48_502, 1, "phage",
       "Enterobacteria_phage_lambda_NC_001416.gbk.gz"),
    _e("phage_t7", "NC_001604.1", "Enterobacteria phage T7",
       "Lytic E. coli phage with its own RNA polymerase and strong phage promoters", 39_937, 1, "phage",
       "Enterobacteria_phage_T7_NC_001604.gb.gz"),
    _e("phage_phix174", "NC_001422.1", "Escherichia phage phiX174",
       "5.4 kb ssDNA phage with overlapping genes in different frames; FASTA only (no features)", 5_386, 1,
       "phage", "phiX174_NC_001422.1.fna.gz"),
    _e("phage_vt2_sakai", "NC_000902.1", "Enterobacteria phage VT2-Sakai",
       "Shiga-toxin 2 converting prophage of E. coli O157:H7 Sakai", 60_942, 1, "phage",
       "pycirclize_enterobacteria_phage.gbk.gz"),
    _e("phage_sodalis_so1", "NC_013600.1", "Sodalis phage SO1",
       "Phage of the tsetse-fly symbiont Sodalis glossinidius (~45 kb)", 45_169, 1, "phage",
       "enterobacteria_phage_NC_013600.gbk.gz"),
    _e("phage_shigella_ep23", "NC_016566.1", "Shigella phage EP23",
       "Lytic Shigella phage (~44 kb)", 44_077, 1, "phage", "enterobacteria_phage_NC_016566.gbk.gz"),
    _e("phage_hk578", "NC_019724.1", "Escherichia phage HK578",
       "E. coli phage (~44 kb)", 43_741, 1, "phage", "enterobacteria_phage_NC_019724.gbk.gz"),
    _e("phage_ek99p1", "NC_024783.1", "Escherichia phage EK99P-1",
       "E. coli phage (~44 kb)", 44_332, 1, "phage", "enterobacteria_phage_NC_024783.gbk.gz"),
    _e("phage_slur05", "NC_028901.1", "Escherichia phage slur05",
       "E. coli phage (~44 kb)", 43_900, 1, "phage", "enterobacteria_phage_NC_028901.gbk.gz"),
    _e("phage_envy", "NC_031081.1", "Escherichia phage Envy",
       "E. coli phage (~45 kb)", 45_206, 1, "phage", "enterobacteria_phage_NC_031081.gbk.gz"),
    _e("phage_ecml117", "JX128258.1", "Escherichia phage ECML-117",
       "Myovirus of E. coli O157:H7 (~67 kb)", 66_854, 1, "phage", "escherichia_phage_JX128258.gbk.gz"),
    _e("phage_ro157lw", "MH051335.1", "Escherichia phage vB_EcoM-Ro157lw",
       "Myovirus of E. coli O157 (~72 kb)", 72_179, 1, "phage", "escherichia_phage_MH051335.gbk.gz"),
    _e("phage_fec19", "MH816966.1", "Escherichia phage FEC19",
       "E. coli myovirus (~68 kb)", 68_472, 1, "phage", "escherichia_phage_MH816966.gbk.gz"),
    _e("phage_wfh", "MK373776.1", "Escherichia phage vB_EcoM_WFH",
       "E. coli myovirus (~71 kb)", 71_283, 1, "phage", "escherichia_phage_MK373776.gbk.gz"),
    _e("phage_fhe_yen9_03", "LT960552.1", "Yersinia phage fHe-Yen9-03",
       "Jumbo phage (353 kb) of Yersinia enterocolitica, with its own tRNAs", 352_596, 1, "phage",
       "erwinia_phage_LT960552.gbk.gz"),
    _e("phage_pea_snuabm_12", "MT939486.1", "Erwinia phage pEa_SNUABM_12",
       "Jumbo phage (358 kb) of the fire-blight pathogen Erwinia amylovora", 358_115, 1, "phage",
       "erwinia_phage_MT939486.gbk.gz"),
    _e("phage_pea_snuabm_47", "MT939487.1", "Erwinia phage pEa_SNUABM_47",
       "Jumbo Erwinia amylovora phage (355 kb)", 355_376, 1, "phage", "erwinia_phage_MT939487.gbk.gz"),
    _e("phage_pea_snuabm_50", "MT939488.1", "Erwinia phage pEa_SNUABM_50",
       "Jumbo Erwinia amylovora phage (357 kb)", 356_948, 1, "phage", "erwinia_phage_MT939488.gbk.gz"),
)

BY_KEY: dict[str, GenomeEntry] = {e.key: e for e in CATALOGUE}
DEFAULT_KEY = "ecoli_k12"


def find(key_or_accession: str) -> GenomeEntry | None:
    """The entry with this key, file name, or one of its accessions (with or without .version)."""
    q = key_or_accession.strip()
    if q in BY_KEY:
        return BY_KEY[q]
    bare = q.split(".")[0]
    for e in CATALOGUE:
        if q == e.file_name or q in e.accessions or bare in {a.split(".")[0] for a in e.accessions}:
            return e
    return None


__all__ = ["GenomeEntry", "CATALOGUE", "BY_KEY", "DEFAULT_KEY", "find"]
