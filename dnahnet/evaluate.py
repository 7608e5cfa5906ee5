"""Held-out evaluation: bits/nt of a checkpoint on each held-out genome beside order-k Markov baselines.

`python -m dnahnet.evaluate CHECKPOINT --data-dir ../shared/data/genomes` scores every non-overlapping tile (both
strands, the training context length) of each held-out genome with the model and with a Markov model trained on
the same training genomes (best k per genome, and the single best k over all held-out genomes), and writes the
table as markdown and CSV. The Markov results are cached (they cost a minute or two on a 2-core CPU).
Tiles holding a non-ACGT base are left out of both scores (`scored_tiles`; a tile is read on its own, so each of its
positions has the N, or its neighbourhood, in context); `nt_masked` counts the positions they would have scored.
"""
import argparse
import hashlib
import json
import time
from pathlib import Path

from dnahnet import threads  # first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see dnahnet.threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dnahnet.data import default_cache_dir, load_corpus, validation_windows
from dnahnet.markov import MarkovModel
from dnahnet.train import evaluate_windows, pick_device


def _corpus_key(corpus, max_order, smoothing):
    h = hashlib.sha1(f"{max_order}:{smoothing}".encode())
    for rec in corpus.train:
        h.update(f"{rec.genome}/{rec.name}/{len(rec)}".encode())
        h.update(np.ascontiguousarray(rec.ids[:: max(1, len(rec) // 4096)]).tobytes())
    return h.hexdigest()[:16]


def scored_tiles(tiles) -> np.ndarray:
    """(n,) bool over validation tiles (rows of ids): True for tiles made of A/C/G/T only, the ones scored.

    Held-out scoring reads each tile on its own from its first base, so a non-ACGT base (the tokenizer's N) sits in
    the context of most of its tile: leaving out the whole tile is the tile-level form of `dnahnet.trace.masked`
    (an N run and its flanks), applied alike to the model and the Markov baselines so the rows compare."""
    tiles = np.asarray(tiles)
    return (tiles < 4).all(axis=-1) if tiles.size else np.ones(len(tiles), bool)


def heldout_windows(corpus, seq_len, max_windows=None) -> tuple[dict, dict]:
    """({genome: the validation tiles scored (n, L+1)}, {genome: positions masked = tiles left out × L})."""
    windows, masked = {}, {}
    for genome, recs in corpus.genomes("valid").items():
        tiles = validation_windows(recs, seq_len, max_windows)
        keep = scored_tiles(tiles)
        windows[genome], masked[genome] = tiles[keep], int((~keep).sum()) * seq_len
    return windows, masked


def markov_tile_bits(corpus, seq_len, max_order=12, smoothing="interpolated", cache_dir=None, log=print):
    """Per held-out genome, per tile (all tiles of validation_windows, both strands) and per order k = 1..max_order:
    summed Markov bits and scored positions → {genome: (bits (n_tiles, max_order), counts (n_tiles,))}.
    The Markov model is fitted on corpus.train (both strands); results are cached per corpus + tiles."""
    cache = Path(cache_dir or default_cache_dir().parent / "markov")
    key = _corpus_key(corpus, max_order, smoothing)
    result, todo = {}, {}
    for genome, recs in corpus.genomes("valid").items():
        tiles = validation_windows(recs, seq_len)
        path = cache / f"{key}-{hashlib.sha1(tiles.tobytes()).hexdigest()[:16]}.npz"
        if path.exists():
            with np.load(path) as z:
                result[genome] = (z["bits"], z["counts"])
        else:
            todo[genome] = (tiles, path)
    if todo:
        t0 = time.time()
        model = MarkovModel.fit([r.ids for r in corpus.train], max_order)
        log(f"Markov counts up to order {max_order} in {time.time() - t0:.0f} s; scoring orders 1..{max_order} "
            f"on {sum(t.size for t, _ in todo.values()):,} nt")
        cache.mkdir(parents=True, exist_ok=True)
        for genome, (tiles, path) in todo.items():
            per_order = [model.window_bits(tiles, k, smoothing) for k in range(1, max_order + 1)]
            bits, counts = np.stack([b for b, _ in per_order], axis=1), per_order[0][1]
            np.savez(path, bits=bits, counts=counts)
            result[genome] = (bits, counts)
    return result


def markov_baselines(corpus, seq_len, max_windows=None, max_order=12, cache_dir=None, log=print):
    """Markov bits/nt per genome and order on the same tiles the model is scored on, with the best k per genome
    and the best single k overall: {"bits": {genome: {k: bits}}, "best_k", "best_k_overall", "mean_bits"}."""
    per_tile = markov_tile_bits(corpus, seq_len, max_order, cache_dir=cache_dir, log=log)
    table = {}
    for genome, recs in corpus.genomes("valid").items():
        tiles, pick = validation_windows(recs, seq_len, max_windows, return_index=True)
        pick = pick[scored_tiles(tiles)]  # the tiles the model is scored on
        bits, counts = per_tile[genome]
        total = bits[pick].sum(0) / max(counts[pick].sum(), 1)
        table[genome] = {k: float(total[k - 1]) for k in range(1, max_order + 1)}
    best = {g: min(row, key=row.get) for g, row in table.items()}
    mean = {k: float(np.mean([table[g][k] for g in table])) for k in range(1, max_order + 1)}
    return {"bits": table, "best_k": best, "best_k_overall": min(mean, key=mean.get), "mean_bits": mean}


def evaluation_table(model_bits, markov, scored, compression=None, masked=None):
    """Rows (dicts) per held-out genome: model bits/nt, Markov best-k bits/nt and k, Markov at the overall best k;
    with `masked` ({genome: positions}) also nt_masked, the positions of tiles left out for non-ACGT bases."""
    k_all = markov["best_k_overall"]
    rows = []
    for genome, bits in model_bits.items():
        k = markov["best_k"][genome]
        best = markov["bits"][genome][k]
        row = {"genome": genome, "nt_scored": scored[genome],
               **({"nt_masked": masked.get(genome, 0)} if masked is not None else {}),
               "dnahnet_bits_per_nt": round(bits, 4),
               "markov_best_k": k, "markov_best_bits_per_nt": round(best, 4),
               f"markov_k{k_all}_bits_per_nt": round(markov["bits"][genome][k_all], 4),
               "delta_vs_best_markov": round(bits - best, 4)}
        if compression:
            for s, c in enumerate(compression[genome]):
                row[f"compression_stage{s}"] = round(c, 3)
        rows.append(row)
    return rows


def to_markdown(rows):
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def to_csv(rows):
    """The table as CSV text (quoted where needed; text cells made inert for spreadsheets)."""
    import csv
    import io

    from dnahnet.csv_cells import inert
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([inert(c) for c in rows[0]])
    writer.writerows([inert(r[c]) for c in rows[0]] for r in rows)
    return buf.getvalue()


def evaluate(checkpoint_path, data, holdout=None, seq_len=None, max_windows=None, max_order=12, batch_size=16,
             device="auto", out=None, log=print):
    """Score a checkpoint and the Markov baselines on the held-out genomes; write eval.md / eval.csv to `out`."""
    from tqdm import tqdm

    from dnahnet import checkpoint
    device = pick_device(device)
    model = checkpoint.load(checkpoint_path, device=device)
    meta = _train_meta(checkpoint_path)
    holdout = holdout or meta.get("holdout")
    seq_len = seq_len or meta.get("seq_len") or 1024
    if not holdout:
        raise ValueError("no hold-out genomes given and none recorded in the checkpoint (use --holdout)")
    corpus = load_corpus(data, holdout)
    windows, masked = heldout_windows(corpus, seq_len, max_windows)
    for genome in [g for g, w in windows.items() if len(w) == 0]:
        log(f"{genome}: every held-out tile holds a non-ACGT base; not scored")
        del windows[genome]
    model_bits, scored, comps = {}, {}, {}
    t0 = time.time()
    with tqdm(total=sum(len(w) for w in windows.values()), desc="model", unit="window") as bar:
        for genome, w in windows.items():
            bar.set_postfix_str(genome[:30])
            # fp32 on a GPU too: bf16 was no faster for this model and moved boundaries (dnahnet.infer.check_precision)
            bits, comp, n = evaluate_windows(model, w, batch_size, device, on_batch=bar.update)
            model_bits[genome], comps[genome], scored[genome] = bits, comp, n
    seconds = time.time() - t0
    log(f"model scored {sum(scored.values()):,} nt in {seconds:.0f} s "
        f"({sum(w.size for w in windows.values()) / max(seconds, 1e-9):,.0f} nt/s)")
    markov = markov_baselines(corpus, seq_len, max_windows, max_order, log=log)
    rows = evaluation_table(model_bits, markov, scored, comps, masked)
    md = to_markdown(rows)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.md").write_text(md + "\n")
        (out / "eval.csv").write_text(to_csv(rows))
        (out / "markov_orders.json").write_text(json.dumps(markov, indent=1))
    return rows, markov


def router_report(checkpoint_path, data, holdout=None, seq_len=None, max_windows=64, batch_size=16, device="auto"):
    """Per router, on the held-out windows: the share of undecided decisions (|p - 0.5| < 0.05), the bits/nt lost
    when the path through its inner stage is removed, and its p histogram. The numbers the trainer logs at each
    validation, for any checkpoint. Returns a list of dicts (outer router first)."""
    from dnahnet import checkpoint
    from dnahnet.train import run_validation
    device = pick_device(device)
    model = checkpoint.load(checkpoint_path, device=device)
    meta = _train_meta(checkpoint_path)
    holdout = holdout or meta.get("holdout")
    seq_len = seq_len or meta.get("seq_len") or 1024
    corpus = load_corpus(data, holdout)
    windows, _ = heldout_windows(corpus, seq_len, max_windows)
    bits, _, routers = run_validation(model, windows, batch_size, device)
    return [{"router": f"Stage {s + 1}", "undecided": r["undecided"], "inner_path_bits": r["inner_path_bits"],
             "p_hist": r["p_hist"], "bits_per_nt": float(np.mean(list(bits.values())))}
            for s, r in enumerate(routers)]


def _train_meta(path):
    """The "train" section a training run stored beside the checkpoint (empty when absent)."""
    from dnahnet import checkpoint
    meta = checkpoint.resolve(path) / checkpoint.META
    return json.loads(meta.read_text()).get("train", {}) if meta.exists() else {}


def _log_entries(log_path):
    """The JSON entries of a train_log.jsonl (blank lines skipped)."""
    with open(log_path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _save_png(fig, path):
    """Lay out, write and close a matplotlib figure; returns the path."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_training_curves(log_path, out_dir):
    """Loss curves from a train_log.jsonl: training bits/nt + validation bits/nt per held-out genome, and the
    compression per stage, against nucleotides seen. Writes loss_curve.png and compression.png; returns paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = _log_entries(log_path)
    train = list({e["step"]: e for e in entries if "loss" in e}.values())  # the last entry per step wins
    evals = list({e["step"]: e for e in entries if "eval" in e}.values())
    out_dir = Path(out_dir)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([e["nt_seen"] / 1e6 for e in train], [e["bits_per_nt"] for e in train], lw=0.8, alpha=0.6,
            label="training batches")
    for genome in (evals[0]["eval"] if evals else {}):
        ax.plot([e["nt_seen"] / 1e6 for e in evals], [e["eval"][genome] for e in evals], marker="o", ms=3,
                label=f"held out: {genome}")
    ax.set_xlabel("nucleotides seen (millions)")
    ax.set_ylabel("bits per nucleotide")
    ax.set_ylim(top=2.1)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    loss_png = _save_png(fig, out_dir / "loss_curve.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    n_stages = len(train[0]["compression"]) if train else 0
    for s in range(n_stages):
        ax.plot([e["nt_seen"] / 1e6 for e in train], [e["compression"][s] for e in train], lw=0.8,
                label=f"Stage {s + 1} (L_in / chunks)")
    ax.set_yscale("log")
    ax.set_xlabel("nucleotides seen (millions)")
    ax.set_ylabel("compression")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    comp_png = _save_png(fig, out_dir / "compression.png")
    return loss_png, comp_png


def plot_router_curves(log_path, out_dir):
    """Router diagnostics from the validation entries of a train_log.jsonl: `router_decisiveness.png` (per router,
    the share of decisions with |p - 0.5| < 0.05 and the bits/nt lost when its inner path is removed, against
    nucleotides seen) and `router_p_histograms.png` (each router's p histogram at every validation, as a heat map).
    Returns the paths written (none for a log without router entries)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = _log_entries(log_path)
    evals = [e for e in {e["step"]: e for e in entries if e.get("routers")}.values()]
    if not evals:
        return ()
    out_dir = Path(out_dir)
    x = [e["nt_seen"] / 1e6 for e in evals]
    n_routers = len(evals[0]["routers"])

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    for s in range(n_routers):
        ax.plot(x, [100 * e["routers"][s]["undecided"] for e in evals], marker="o", ms=3, label=f"Stage {s + 1}")
        bx.plot(x, [e["routers"][s].get("inner_path_bits", float("nan")) for e in evals], marker="o", ms=3,
                label=f"Stage {s + 1}")
    ax.axhline(15, color="grey", ls="--", lw=0.8, label="target for Stage 2 (15%)")
    ax.set_ylabel("undecided decisions, |p − 0.5| < 0.05 (%)")
    bx.set_ylabel("bits/nt lost without the inner path")
    bx.set_yscale("symlog", linthresh=1e-3)
    for a in (ax, bx):
        a.set_xlabel("nucleotides seen (millions)")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    decisive_png = _save_png(fig, out_dir / "router_decisiveness.png")

    fig, axes = plt.subplots(1, n_routers, figsize=(5 * n_routers, 3.6), squeeze=False)
    for s, ax in enumerate(axes[0]):
        hist = np.array([e["routers"][s]["p_hist"] for e in evals], dtype=float)  # (evals, bins)
        hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1)
        edges = np.linspace(0, 1, hist.shape[1] + 1)
        xs = np.array(x + [x[-1] + (x[-1] - x[-2] if len(x) > 1 else 1.0)])
        mesh = ax.pcolormesh(xs, edges, hist.T, cmap="viridis", shading="flat")
        ax.axhline(0.5, color="white", lw=0.6, ls=":")
        ax.set_title(f"Stage {s + 1} router: p at held-out positions", fontsize=9)
        ax.set_xlabel("nucleotides seen (millions)")
        ax.set_ylabel("boundary probability p")
        fig.colorbar(mesh, ax=ax, label="share of positions")
    hist_png = _save_png(fig, out_dir / "router_p_histograms.png")
    return decisive_png, hist_png


def plot_run_comparison(run_dirs, out_dir):
    """Held-out bits/nt (mean over the held-out genomes) of several training runs against nucleotides seen and
    against wall-clock hours of training, from their train_log.jsonl files: `run_comparison.png`. Hours are those
    each run logged on its own host and load, so they compare only roughly."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for run in run_dirs:
        entries = _log_entries(Path(run) / "train_log.jsonl")
        start = next((e for e in entries if e.get("event") == "start"), {})
        evals = list({e["step"]: e for e in entries if "eval" in e}.values())
        label = f"{Path(run).name} ({start.get('params', 0) / 1e6:.1f} M params)"
        bits = [float(np.mean(list(e["eval"].values()))) for e in evals]
        ax.plot([e["nt_seen"] / 1e6 for e in evals], bits, marker="o", ms=3, label=label)
        bx.plot([e["elapsed_s"] / 3600 for e in evals], bits, marker="o", ms=3, label=label)
    ax.set_xlabel("nucleotides seen (millions)")
    bx.set_xlabel("training wall time (hours, 2-core CPU)")
    ax.set_ylabel("held-out bits/nt (mean of the held-out genomes)")
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    return _save_png(fig, Path(out_dir) / "run_comparison.png")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dnahnet.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint directory (default: the bundled one)")
    p.add_argument("--data-dir", "--data", dest="data", required=True)
    p.add_argument("--holdout", default="", help="comma-separated file-name substrings (default: the checkpoint's)")
    p.add_argument("--seq-len", type=int, default=0, help="window length (default: the training context)")
    p.add_argument("--max-windows", type=int, default=0, help="tiles per genome (0 = all)")
    p.add_argument("--max-order", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: dnahnet.threads decides)")
    p.add_argument("--out", default="", help="directory for eval.md / eval.csv (default: print only)")
    p.add_argument("--plots", action="store_true",
                   help="also draw the training curves (loss, compression, router decisiveness and p histograms) "
                        "from the checkpoint's train_log.jsonl into --out")
    p.add_argument("--routers", action="store_true",
                   help="instead of bits/nt: each router's undecided share and the cost of removing its inner path")
    ns = p.parse_args(argv)
    threads.configure_threads(ns.threads or None)
    if ns.routers:
        rows = router_report(ns.checkpoint, ns.data, [h for h in ns.holdout.split(",") if h] or None,
                             ns.seq_len or None, ns.max_windows or 64, ns.batch_size, ns.device)
        print("| router | undecided (p within 0.05 of 0.5) | bits/nt lost without its inner path |\n|---|---|---|")
        for r in rows:
            print(f"| {r['router']} | {r['undecided']:.1%} | {r['inner_path_bits']:+.4f} |")
        return
    rows, markov = evaluate(ns.checkpoint, ns.data, [h for h in ns.holdout.split(",") if h] or None,
                            ns.seq_len or None, ns.max_windows or None, ns.max_order, ns.batch_size, ns.device,
                            ns.out or None)
    print(to_markdown(rows))
    print(f"\nMarkov: best k per genome {markov['best_k']}; best single k overall {markov['best_k_overall']}")
    if ns.plots and ns.out:
        from dnahnet import checkpoint
        log = checkpoint.resolve(ns.checkpoint) / "train_log.jsonl"
        if log.exists():
            print("wrote", *plot_training_curves(log, ns.out), *plot_router_curves(log, ns.out))
        else:
            print(f"no {log}: no training curves drawn")


if __name__ == "__main__":
    main()

