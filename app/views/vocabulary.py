"""Vocabulary: each stage's chunks read as words — the most frequent strings, where they start, whether the model
cuts a string the same way wherever it occurs — beside k-mer baselines, and sequence logos around chunk starts.

The work is `interpret.report.learned_vocabulary` (interpret.vocabulary + interpret.logos; the same as
`python -m interpret.vocabulary` and the report's sections), computed once per checkpoint + sequence + settings
(`state.derived`, with a progress bar the first time); a stage's logo grid is drawn once, when first shown.
"""
import streamlit as st

from app import components, results, state, tables
from app.components import plain
from interpret.figures_vocabulary import vocabulary_rank_frequency
from interpret.style import stage_label

a = components.require_analysis()
components.page_header(
    "Learned vocabulary", a,
    "Read each stage's chunks as words: which strings does the model cut most often, in which classes do they "
    "start, and does it cut a string the same way wherever the string occurs? Beside them, what a chunker with the "
    "same chunk lengths but no knowledge of the sequence would read, and the sequence around the chunk starts.")

CONSISTENCY = ("**Consistency** of a string: of all its occurrences in the analysed sequence (read in the same "
               "direction), the share the model cut as exactly one chunk — near 100% when the string itself decides "
               "the cut, low when the surrounding sequence does.")
BASELINES = ("**Baselines**, both with the model's own chunk lengths: *k-mers of the same lengths* cut at random "
             "places (the exact distribution over every position), and *lengths shuffled*: the same sequence cut "
             "again with each pass's chunk lengths in random order (same number of chunks, so its entropy has the "
             "same small-sample bias as the model's: the fair comparison).")


def _key() -> str:
    """The analysis key (source, sequence hash, record, region and strands, checkpoint) + the companion table."""
    return f"{a.key}|{a.companion_key}"


def _compute(progress):
    from interpret.report import learned_vocabulary

    notes: list[str] = []
    vocab, logos = learned_vocabulary(a.trace, {a.record_id: str(a.record.seq)}, {a.record_id: results.annotation(a)},
                                      notes, progress=progress)
    return vocab, logos, notes


def _vocabulary():
    if state.has_derived("vocabulary", _key()):
        return state.derived("vocabulary", _key(), _compute)
    with st.status("Reading the chunks as words: frequent strings, k-mer baselines, logos…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(fraction, message):
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=plain(message))

        out = state.derived("vocabulary", _key(), _compute, progress)
        status.update(label="Vocabulary ready", state="complete", expanded=False)
    return out


def _logo_grid(stage: int, logos):
    """(matplotlib figure, PNG bytes) of one stage's logos, drawn once per analysis and stage."""
    def draw(progress):
        from interpret.figures_vocabulary import boundary_logo_grid
        from interpret.render import figure_to_bytes

        fig = boundary_logo_grid([lg for lg in logos if lg.stage == stage],
                                 title=f"{stage_label(stage)}: sequence around chunk starts (±10 nt, read in each "
                                       "pass's direction; bits against the background composition)")
        return fig, figure_to_bytes(fig, "png")

    if state.has_derived("vocabulary_logos", f"{_key()}|{stage}"):
        return state.derived("vocabulary_logos", f"{_key()}|{stage}", draw)
    with st.spinner(f"Drawing the {stage_label(stage)} logos (a few seconds per panel, once)…"):
        return state.derived("vocabulary_logos", f"{_key()}|{stage}", draw)


vocab, logos, notes = _vocabulary()
if vocab is None:
    st.warning("No vocabulary for this analysis.")
    if notes:
        st.markdown(components.bullets(notes))
    st.stop()
summary = vocab.summary.df.set_index("stage")
stages = [int(s) for s in summary.index]

st.subheader("Entropy beside the baselines")
for s in stages:
    r = summary.loc[s]
    c = st.columns(4)
    c[0].metric(f"{stage_label(s)}: chunk entropy", f"{r['entropy_bits']:.2f} bits",
                help=f"Shannon entropy of the {int(r['n_chunks']):,} chunk strings of {stage_label(s)} "
                     "(passes pooled).")
    c[1].metric("k-mers of the same lengths", f"{r['kmer_entropy_bits']:.2f} bits",
                help="A chunker with the model's chunk lengths at random cut points (exact distribution).")
    c[2].metric("same sequence, lengths shuffled", f"{r['shuffled_entropy_bits']:.2f} bits",
                help=f"Mean of {int(r['shuffled_draws'])} draws; same number of chunks as the model.")
    c[3].metric("distinct strings", f"{int(r['vocabulary_size']):,}",
                help=f"Lengths shuffled: {r['shuffled_vocabulary_size']:,.0f} (mean of the draws).")
components.explain(BASELINES)
components.table(tables.vocabulary_summary(vocab.summary.df), f"{a.file_stem}_vocabulary_summary", "voc_summary",
                 vocab.summary.description, hide_index=True)

components.figure(vocabulary_rank_frequency(vocab.rank_frequency.df), f"{a.file_stem}_vocabulary_rank_frequency",
                  "voc_zipf", "Share of the stage's chunks held by the string at each rank (log-log): model solid, "
                  "k-mers of the same lengths dashed, the same sequence cut with the lengths shuffled dotted. "
                  "Every rank to 1,000, then log-spaced.")

st.subheader("The most frequent strings")
st.markdown(CONSISTENCY)
tabs = st.tabs([stage_label(s) for s in stages])
for s, tab in zip(stages, tabs):
    with tab:
        top = tables.vocabulary_top(vocab.top.df, s)
        components.table(top, f"{a.file_stem}_{stage_label(s).replace(' ', '')}_vocabulary_top", f"voc_top_{s}",
                         f"The {len(top)} most frequent {stage_label(s)} chunk strings, each read in its pass's "
                         "direction (passes pooled); the classes column lists classes holding at least 20% of the "
                         "string's chunks, with the fold against all the stage's chunks.", hide_index=True)
        classes = tables.vocabulary_classes(vocab.top_classes.df, s)
        if len(classes):
            with st.expander(f"Where each string's chunks start, class by class ({len(classes):,} rows)"):
                components.table(classes, f"{a.file_stem}_{stage_label(s).replace(' ', '')}_vocabulary_classes",
                                 f"voc_classes_{s}", vocab.top_classes.description, hide_index=True, height=320)

st.subheader("Boundary logos")
pick = st.segmented_control("Stage", stages, default=stages[0], key="voc_stage", format_func=stage_label,
                            help="One stage at a time: each panel takes a few seconds to draw (once).")
pick = stages[0] if pick is None else int(pick)
if logos:
    fig, png = _logo_grid(pick, logos)
    st.image(png)
    components.explain("Sequence ±10 nt around each chunk start, read in its pass's direction (0 = the first base of "
                       "the chunk, dotted line = the boundary), for all chunk starts and by the class of the chunk's "
                       "first base. Stack height: relative entropy against the base composition of the analysed "
                       "sequence (bits); letters share it by their frequency; n = sites.")
    components.figure_downloads(fig, f"{a.file_stem}_{stage_label(pick).replace(' ', '')}_boundary_logos",
                                "voc_logos")
    components.table(tables.logo_sites([lg for lg in logos if lg.stage == pick]),
                     f"{a.file_stem}_{stage_label(pick).replace(' ', '')}_logo_sites", "voc_logo_sites",
                     "Per logo: the sites, and the position with the most information with its commonest base.",
                     hide_index=True)
    with st.expander("Every logo in numbers (all stages)"):
        from interpret.logos import logo_table

        components.table(tables.logo_matrix(logo_table(logos)), f"{a.file_stem}_boundary_logos", "voc_logo_table",
                         "Count, probability and bits of each base at each position of every logo, with the "
                         "background composition.", hide_index=True, height=320)
else:
    st.caption("No boundary logo for this analysis (no chunk starts with a full window).")

with st.expander("k-mers of the frequent strings' lengths"):
    components.table(vocab.kmers.df.rename(columns={"k": "k (nt)", "kmer": "k-mer", "count": "occurrences",
                                                    "share": "share of the k-mers of that length"}),
                     f"{a.file_stem}_vocabulary_kmers", "voc_kmers", vocab.kmers.description, hide_index=True,
                     height=320)
    components.table(vocab.kmer_lengths.df.rename(columns={
        "k": "k (nt)", "n_positions": "positions", "n_distinct": "distinct k-mers", "entropy_bits": "entropy (bits)"}),
        f"{a.file_stem}_vocabulary_kmer_lengths", "voc_kmer_lengths", vocab.kmer_lengths.description, hide_index=True)

if notes:
    with st.expander(f"Notes on these tables ({len(notes)})"):
        st.markdown(components.bullets(notes))
st.caption("Settings: " + plain(", ".join(f"{k} = {v}" for k, v in vocab.settings.items() if k != "stages"))
           + ". The same tables from the command line: python -m interpret.vocabulary GENOME --out DIR.")
components.track_downloads(a, "vocabulary")
