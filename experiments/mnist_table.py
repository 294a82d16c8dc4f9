"""Table 1 of the conditional paper beside this project's measured rows.

Reads the ``eval.json`` that ``cgan eval RUN_DIR`` wrote into each run directory given
(``RUN_DIR:NAME`` reads ``eval-NAME.json`` instead, a copy kept per checkpoint), and prints
a Markdown table (the one in docs/results.md):

    python experiments/mnist_table.py runs/mnist-gan-default-s0:best runs/mnist-cgan-default-s0:latest
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Mirza & Osindero (2014), Table 1: Parzen window-based log-likelihood estimates for MNIST.
PAPER = [
    ("DBN", "138 +- 2"),
    ("Stacked CAE", "121 +- 1.6"),
    ("Deep GSN", "214 +- 1.1"),
    ("Adversarial nets", "225 +- 2"),
    ("Conditional adversarial nets", "132 +- 1.8"),
]


def row(spec: str) -> str:
    run, _, name = spec.partition(":")
    run_dir = Path(run)
    result = json.loads((run_dir / (f"eval-{name}.json" if name else "eval.json")).read_text())
    config = json.loads((run_dir / "config.json").read_text())
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    hours = metrics[-1]["seconds"] / 3600 if metrics else float("nan")
    accuracy = result.get("label_accuracy", {}).get("overall")
    name = {"cgan": "Conditional adversarial nets", "gan": "Adversarial nets"}[config["model"]]
    return (f"| {name} (this project, `{config['preset']}`, {config['noise']} noise, "
            f"{result['checkpoint']} checkpoint, epoch {result['epoch']} of "
            f"{metrics[-1]['epoch'] if metrics else '?'}) "
            f"| {result['parzen_ll']:.0f} +- {result['parzen_std_error']:.1f} "
            f"| {result['parzen_sigma']:.3f} "
            f"| {'-' if accuracy is None else f'{accuracy:.3f}'} "
            f"| {result['frechet_distance']:.1f} | {hours:.2f} h |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories with eval.json, or RUN_DIR:NAME")
    args = parser.parse_args()
    print("| model | Parzen log-likelihood (nats) | sigma | label accuracy | Frechet distance | training time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, value in PAPER:
        print(f"| {name} (paper) | {value} | | | | |")
    for run_dir in args.runs:
        print(row(run_dir))


if __name__ == "__main__":
    main()
