"""The five task entry points of the fl-workflow example: prepare, train, aggregate, evaluate, report.

Logistic regression on synthetic two-class points, standard library only (constraint C1). Every
task writes one file of its own under the run directory (C4) and prints, as its last stdout line,
a JSON object with the ``outputs`` it wrote and the ``metrics`` it measured; the task workflow
collects them for the validation criteria.

    python fl_tasks.py prepare --clients 4 --samples 200 --seed 7 --out RUN/data
    python fl_tasks.py train --client 0 --round 0 --epochs 2 --lr 0.1 --mu 0.0 --run RUN
    python fl_tasks.py aggregate --round 0 --clients 4 --run RUN
    python fl_tasks.py evaluate --round 0 --run RUN
    python fl_tasks.py report --rounds 3 --run RUN
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from pathlib import Path

TEST_POINTS = 1000
CENTERS = {0: (-1.0, -1.0), 1: (1.0, 1.0)}


def _points(rng: random.Random, n: int) -> list[dict[str, object]]:
    points = []
    for _ in range(n):
        y = rng.randrange(2)
        cx, cy = CENTERS[y]
        points.append({"x": [rng.gauss(cx, 1.0), rng.gauss(cy, 1.0)], "y": y})
    return points


def _write_lines(path: Path, points: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(p) + "\n" for p in points), encoding="utf-8")


def _read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _round_dir(run: Path, round_: int) -> Path:
    directory = run / f"round-{round_}"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _predict(w: list[float], x: list[float]) -> float:
    return _sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])


def _global_weights(run: Path, round_: int) -> list[float]:
    if round_ == 0:
        return [0.0, 0.0, 0.0]
    return json.loads((run / f"round-{round_ - 1}" / "global.json").read_text(encoding="utf-8"))["weights"]


def _done(outputs: list[Path], **metrics: float) -> None:
    print(json.dumps({"outputs": [str(p) for p in outputs], "metrics": metrics}))


def prepare(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    for client in range(args.clients):
        _write_lines(out / f"client-{client}.jsonl", _points(rng, args.samples))
    _write_lines(out / "test.jsonl", _points(rng, TEST_POINTS))
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"clients": args.clients, "samples": args.samples, "seed": args.seed}) + "\n",
                        encoding="utf-8")
    _done([manifest])


def train(args: argparse.Namespace) -> None:
    run = Path(args.run)
    data = _read_lines(run / "data" / f"client-{args.client}.jsonl")
    start = _global_weights(run, args.round)
    w = list(start)
    rng = random.Random(f"client-{args.client}-round-{args.round}")
    for _ in range(args.epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for i in order:
            x, y = data[i]["x"], data[i]["y"]
            error = _predict(w, x) - y  # type: ignore[arg-type, operator]
            grads = [error * x[0], error * x[1], error]  # type: ignore[index]
            w = [wj - args.lr * (g + args.mu * (wj - sj)) for wj, g, sj in zip(w, grads, start, strict=True)]
    path = _round_dir(run, args.round) / f"client-{args.client}.json"
    path.write_text(json.dumps({"weights": w, "samples": len(data)}) + "\n", encoding="utf-8")
    _done([path])


def aggregate(args: argparse.Namespace) -> None:
    run = Path(args.run)
    directory = _round_dir(run, args.round)
    total = 0
    summed = [0.0, 0.0, 0.0]
    for client in range(args.clients):
        update = json.loads((directory / f"client-{client}.json").read_text(encoding="utf-8"))
        total += update["samples"]
        summed = [s + update["samples"] * wj for s, wj in zip(summed, update["weights"], strict=True)]
    weights = [s / total for s in summed]
    path = directory / "global.json"
    path.write_text(json.dumps({"weights": weights, "clients": args.clients}) + "\n", encoding="utf-8")
    _done([path])


def evaluate(args: argparse.Namespace) -> None:
    run = Path(args.run)
    directory = _round_dir(run, args.round)
    w = json.loads((directory / "global.json").read_text(encoding="utf-8"))["weights"]
    test = _read_lines(run / "data" / "test.jsonl")
    correct, loss = 0, 0.0
    for point in test:
        p = min(max(_predict(w, point["x"]), 1e-12), 1 - 1e-12)  # type: ignore[arg-type]
        correct += int((p >= 0.5) == bool(point["y"]))
        loss -= math.log(p) if point["y"] else math.log(1 - p)
    accuracy, loss = correct / len(test), loss / len(test)
    path = directory / "eval.json"
    path.write_text(json.dumps({"round": args.round, "accuracy": accuracy, "loss": loss}) + "\n", encoding="utf-8")
    _done([path], accuracy=accuracy, loss=loss)


def report(args: argparse.Namespace) -> None:
    run = Path(args.run)
    rows = [json.loads((run / f"round-{r}" / "eval.json").read_text(encoding="utf-8")) for r in range(args.rounds)]
    final = (run / f"round-{args.rounds - 1}" / "global.json").read_bytes()
    lines = ["# fl-workflow report", "", "| round | accuracy | loss |", "| --- | --- | --- |"]
    lines += [f"| {row['round']} | {row['accuracy']:.4f} | {row['loss']:.4f} |" for row in rows]
    lines += ["", f"final weights sha256: {hashlib.sha256(final).hexdigest()}", ""]
    path = run / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    _done([path], final_accuracy=rows[-1]["accuracy"], final_loss=rows[-1]["loss"], rounds=float(args.rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fl_tasks.py", description="fl-workflow task entry points")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("train")
    p.add_argument("--client", type=int, required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--mu", type=float, required=True)
    p.add_argument("--run", required=True)
    p = sub.add_parser("aggregate")
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--run", required=True)
    p = sub.add_parser("evaluate")
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--run", required=True)
    p = sub.add_parser("report")
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--run", required=True)
    args = parser.parse_args(argv)
    {"prepare": prepare, "train": train, "aggregate": aggregate, "evaluate": evaluate, "report": report}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
