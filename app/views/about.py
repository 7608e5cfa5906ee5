"""About: what dnaHNet is, what the two stages mean, what the loaded checkpoint does (from its own measured files,
beside the paper's numbers shown as the paper's), its model card, how to cite."""
import streamlit as st

from app import model_card, state
from app.components import plain

st.title("About dnaHNet Explorer")
st.markdown(
    """
**dnaHNet** is a hierarchical DNA language model: an H-Net that reads nucleotides and learns, with no labels,
where to cut the sequence into chunks. Each *router* decides, base by base, whether a new chunk starts; the inner
network then works on the shorter sequence of chunks. This app shows where those cuts fall on a genome, and
whether they line up with genes, codons, start and stop codons and promoters.
"""
)

st.subheader("What the stages mean")
c1, c2 = st.columns(2)
c1.markdown(
    """
**Stage 1** — nucleotides → chunks of about **3 nt** (the router's target).
The first router reads every base. In the paper's model its boundaries track the codon; whether the loaded
checkpoint's do is measured below.
"""
)
c2.markdown(
    """
**Stage 2** — Stage-1 chunks → chunks of about **6 nt** (the router's target).
The second router reads only Stage-1 chunks, so its boundaries are a subset of Stage-1 boundaries: its rate is
counted either per Stage-1 chunk start (about 50%) or per nucleotide (about 1 in 6), and the app names which.
In the paper's model they concentrate on start codons, promoters and intergenic DNA; whether the loaded
checkpoint's do is measured below.
"""
)
st.markdown(
    """
- **Boundary p**: the router's probability that a chunk starts at a base (a boundary is p > 0.5).
- **Surprisal**: −log₂ p(base) from the language model, in bits; 2 bits = no better than a uniform guess.
- **Strand passes**: the *+* pass reads the record 5'→3'; the *−* pass reads its reverse complement. Genes on the
  − strand are judged on the − pass. All coordinates shown are forward-strand record coordinates, 1-based.
- **Enrichment** compares the boundary rate in a class of bases (say, start codons) to the genome-wide rate, against
  nulls that keep the chunk-length distribution (circular shifts, shuffled chunk lengths) and against baseline
  chunkers (fixed length 3 and 6, random with the model's lengths).
"""
)

def _measured(directory: str) -> None:
    """What this checkpoint does, from its measured files only; the paper's numbers beside, as the paper's."""
    st.subheader("What this checkpoint does — measured, beside the paper")
    if not directory:
        st.caption("This model has no checkpoint directory, so there are no measured files to report.")
        return
    held = model_card.heldout(directory)
    if held is not None:
        wins, n = model_card.beats_markov(held)
        st.markdown(f"**Held-out genomes** (`heldout_bits.csv`): dnaHNet scores fewer bits per nucleotide than the "
                    f"best order-k Markov model on **{wins} of {n}**.")
        st.dataframe(held, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.4f") for c in held.columns if "bits/nt" in c})
    else:
        st.caption("No held-out evaluation (`heldout_bits.csv`) in this checkpoint's folder: not measured.")
    table = model_card.findings(directory)
    st.markdown(f"**The paper's findings** ({model_card.PAPER}) beside what this checkpoint measured in E. coli K-12 "
                "(`python -m interpret.report`; the checkpoint's folder, or a report in docs/results kept for these "
                "very weights). *Not measured* where there is no such file. Different genome and model: a "
                "comparison, not a replication test.")
    st.dataframe(table.drop(columns=["in short"]), hide_index=True)
    st.markdown(f"**In short, this checkpoint:** {model_card.verdict(table)}")
    ess, ess_file = model_card.zero_shot(directory)
    if ess is not None:
        beside = ", ".join(f"{plain(p)} {a:.3f}" for p, a in ess["baselines"].items())
        # ess_file is one of model_card.ZERO_SHOT_FILES (our names, shown as code: no markdown escaping inside)
        st.markdown(f"**Zero-shot gene essentiality** (`{ess_file}`): a premature stop scored by the model "
                    f"ranks essential genes with AUROC **{ess['auroc']:.3f}** (95% CI {ess['ci_low']:.3f}–"
                    f"{ess['ci_high']:.3f}; {int(ess['n_essential']):,} essential of {int(ess['n_genes']):,} genes)"
                    + (f"; on the same genes, {beside} rank them without a model (0.5 = chance)." if beside else "."))
    else:
        st.markdown("**Zero-shot tasks** (variant effects, gene essentiality): *not measured* for this checkpoint "
                    "(no `essentiality_auroc.csv` in its folder; `python -m dnahnet.variants GENOME --essentiality "
                    "--labels LABELS --summary essentiality_auroc.csv` measures it). The Mutagenesis page scores "
                    "variants with it, but nothing here says how well those scores predict effects.")
    st.caption("Paper numbers are the paper's model on B. subtilis; this checkpoint's are read from its folder, "
               f"{plain(directory)}, and the files named in the table.")


st.subheader("The loaded model")
try:
    card = state.model_card()
except Exception as e:  # noqa: BLE001 - the page still explains the app without a model
    st.error(f"The model could not be loaded: {plain(e)}")
else:
    m1, m2, m3 = st.columns(3)
    m1.metric("Checkpoint", str(card["name"]).split("/")[-1])
    m2.metric("Parameters", f"{card['parameters'] / 1e6:.2f} M")
    m3.metric("Device", state.device_label())
    cfg = card.get("config") or {}
    if cfg:
        st.caption(f"Layout `{cfg.get('arch_layout')}` · widths {cfg.get('d_model')} · target compression "
                   f"{cfg.get('target_compression')} per router")
    train = (card.get("meta") or {}).get("train") or {}
    if train:
        st.caption(f"Trained for {train.get('step', '?'):,} steps on {train.get('nt_seen', 0) / 1e6:,.1f} M "
                   f"nucleotides "
                   f"(windows of {train.get('seq_len', '?')} nt)." if isinstance(train.get("step"), int) else "")
        held_out = train.get("valid_bits_per_nt") or {}
        if held_out:
            st.dataframe({"held-out genome": list(held_out), "bits per nucleotide": [round(v, 3) for v in
                                                                                   held_out.values()]},
                         hide_index=True, width="content")
            st.caption("Bits per nucleotide on genomes kept out of training (2 bits = a uniform guess; lower is "
                       "better).")
    _measured(card.get("path") or "")
    if card.get("meta"):
        with st.expander("Training and evaluation (meta.json)", expanded=False):
            st.json(card["meta"])
    if card.get("card"):
        with st.expander("Model card", expanded=False):
            st.markdown(card["card"])

st.subheader("How to cite")
st.markdown("If you use dnaHNet Explorer in your work, please cite the model and the architecture it builds on:")
st.code(
    "Shah et al. (2026). dnaHNet. arXiv:2602.10603 (ICML 2026).\n"
    "Hwang, S., Wang, B., Gu, A. (2025). Dynamic chunking for end-to-end hierarchical sequence modeling (H-Net). "
    "arXiv:2507.07955.\n"
    "Dao, T., Gu, A. (2024). Transformers are SSMs: generalized models and efficient algorithms through structured "
    "state space duality (Mamba-2). ICML 2024.",
    language=None,
    wrap_lines=True,
)
st.caption("Genome records shown here come from NCBI; cite their accessions. Every statistic on these pages can be "
           "produced headless with `python -m interpret.report`.")
