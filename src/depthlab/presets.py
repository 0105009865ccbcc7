"""Run a params preset as a DVC experiment: `python -m depthlab.presets presets/reference.yaml`.

A preset is a partial params.yaml. Each of its leaves becomes a `dvc exp run -S key=value`, so the run is an
ordinary DVC experiment (`dvc exp show` lists it) and params.yaml is checked by the same schema first.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from depthlab.errors import ParamsError
from depthlab.params import PARAMS_FILE, Params, load_params


def set_arguments(preset: dict[str, Any], prefix: str = "") -> list[str]:
    """`-S ++key=value` for every leaf of the preset (Hydra's add-or-override: a preset may add a key params.yaml
    lacks, such as a family of your own); lists are leaves, written as JSON (valid YAML)."""
    arguments = []
    for key, value in preset.items():
        if isinstance(value, dict):
            arguments += set_arguments(value, f"{prefix}{key}.")
        else:
            arguments += ["-S", f"++{prefix}{key}={json.dumps(value, separators=(',', ':'))}"]
    return arguments


def merged(base: dict[str, Any], preset: dict[str, Any]) -> dict[str, Any]:
    """`base` with `preset` laid over it, key by key; neither is modified."""
    out = copy.deepcopy(base)
    for key, value in preset.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def command(preset_file: Path, params_file: Path = PARAMS_FILE) -> list[str]:
    """The `dvc exp run` command for a preset, after checking that params.yaml with it applied is valid."""
    preset = yaml.safe_load(preset_file.read_text())
    load_params(params_file)
    try:
        Params.model_validate(merged(yaml.safe_load(params_file.read_text()), preset))
    except Exception as err:
        raise ParamsError(f"{preset_file}: does not make valid params: {err}") from None
    return ["dvc", "exp", "run", "--name", preset_file.stem, *set_arguments(preset)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", type=Path)
    parser.add_argument("--print", action="store_true", help="print the dvc command instead of running it")
    args = parser.parse_args()
    try:
        dvc = command(args.preset)
    except ParamsError as err:
        print(f"depthlab preset: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    if args.print:
        print(" ".join(f"'{a}'" if "=" in a else a for a in dvc))
        return
    print("$ " + " ".join(dvc), flush=True)
    sys.exit(subprocess.run(dvc).returncode)


if __name__ == "__main__":
    main()
