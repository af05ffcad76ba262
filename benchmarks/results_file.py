"""Where every benchmark writes its figures: one JSON file, its folder made if missing."""

import json
import os


def write(path: str, results: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"written to {path}")
