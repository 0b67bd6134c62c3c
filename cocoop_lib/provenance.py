"""What a chapter's numbers came from, as facts (no display): backbone, data, recipe, device,
versions, git, times; the warning when it is not the paper's setting; the one setting sentence.

:mod:`cocoop_lib.notebook_output` lays these out as HTML; :mod:`cocoop_lib.machine` supplies the
machine's part (device, versions, git revision).
"""
from __future__ import annotations

import time
from datetime import datetime

from .parameters import METHOD_LABELS


def backbone_summary(P) -> dict:
    """Backbone name, weight file sha256 and whether it is the mini CLIP, without loading it."""
    from .backbone import PAPER_BACKBONE, WEIGHT_FILES, file_sha256, resolve_backbone_folder

    folder = resolve_backbone_folder(P.backbone)
    weights = next(folder / w for w in WEIGHT_FILES if (folder / w).exists())
    return {"backbone": P.backbone, "weights_path": str(weights),
            "weights_sha256": file_sha256(weights), "is_mini_clip": P.backbone == "mini",
            "is_paper_backbone": P.backbone == PAPER_BACKBONE}


def provenance_info(P, records: list[dict] | None = None) -> dict:
    """What this notebook's numbers came from: backbone, data, device, versions, git, times."""
    import torch

    from .presets import get_recipe
    from .machine import provenance

    device = P.device if P.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    info = {"parameters": P.as_dict(), "backbone": backbone_summary(P),
            "recipe": get_recipe(P.recipe, P.backbone).name,
            "data": "offline mini world (bundled)" if P.data_root is None else f"data_root {P.data_root}",
            "world": P.world.name, **provenance(device),
            "wall_seconds": round(time.time() - P.started, 1)}
    if records:
        shas = sorted({r["backbone"]["weights_sha256"] for r in records})
        info["records"] = {
            "n_runs": len(records),
            "n_reused": sum(_made_before(r, P.started) for r in records),
            "n_shipped": sum(bool(r.get("shipped_from")) for r in records),
            "compute_seconds": round(sum(r["seconds"]["total"] for r in records), 1),
            "weights_sha256": shas,
            "is_mini_clip": sorted({bool(r["backbone"]["is_mini_clip"]) for r in records}),
            "devices": sorted({r["provenance"].get("device_name", r["provenance"]["device"])
                               for r in records}),
            "git_revisions": sorted({r["provenance"]["git_revision"] for r in records}),
        }
    return info


def _made_before(record: dict, t: float) -> bool:
    """Whether ``record`` was made before time ``t`` (seconds since the epoch), by the UTC second
    its provenance gives (a record without one counts as earlier): a chapter's records made
    before its parameters cell are the ones it reused (shipped or from earlier executions)."""
    utc = record.get("provenance", {}).get("utc")
    return utc is None or datetime.fromisoformat(utc).timestamp() < int(t)


def setting_warning(info: dict) -> str | None:
    """The warning a provenance block opens with when these are not the paper's numbers."""
    mini_clip = info["backbone"]["is_mini_clip"] or True in info.get("records", {}).get("is_mini_clip", [])
    mini_data = info["world"] != "paper"
    if not (mini_clip or mini_data):
        if not info["backbone"]["is_paper_backbone"]:
            return (f"Backbone {info['backbone']['backbone']!r} is not the paper's CLIP ViT-B/16 "
                    "(openai/clip-vit-base-patch16): these numbers are not the paper's setting.")
        return None
    parts = []
    if mini_clip:
        parts.append("the offline mini CLIP (a small CLIP pretrained on 32x32 synthetic images, "
                     "bundled with this package), not the paper's CLIP ViT-B/16")
    if mini_data:
        parts.append("the offline mini world's datasets (emoji, glyphs, Fashion-MNIST, MNIST at "
                     "32x32), not the paper's 11 datasets")
    return ("Offline mini world: these numbers come from " + " and ".join(parts) + ". Compare "
            "their pattern with the paper's, not their values. To run the paper's setting, see "
            "the introduction's papermill command.")


def provenance_rows(info: dict) -> list[tuple[str, object]]:
    """(key, value) rows of the provenance block; a value is a string or a list of strings (the
    parts a layout may wrap between, never inside)."""
    from .shipped import ENV    # shipped imports torch and transformers: only when shown

    b = info["backbone"]
    device = (f"{info['device']} ({info.get('device_name', '')}"
              + (f", {info['cpu_threads']} thread(s)" if "cpu_threads" in info else "")
              + (f", CUDA {info['cuda']}" if info.get("cuda") else "") + ")")
    rows = [
        ("backbone", f"{b['backbone']}" + (" (offline mini CLIP)" if b["is_mini_clip"] else "")),
        ("weights sha256", b["weights_sha256"]),
        ("data", info["data"]),
        ("recipe", info["recipe"]),
        ("device", device),
        ("versions", [f"{k} {v}" for k, v in info["versions"].items()]),
        ("git revision", info["git_revision"]),
        ("notebook wall time", f"{info['wall_seconds']:.1f} s (since the parameters cell)"),
        ("parameters", [f"{k}={v!r}" for k, v in info["parameters"].items()]),
    ]
    if "records" in info:
        r = info["records"]
        shipped = (f", {r['n_shipped']} of them shipped with the repository (cocoop_lib/assets/"
                   f"mini_runs, made by scripts/sweep.py; {ENV}=0 trains them here)"
                   if r.get("n_shipped") else "")
        rows.append(("runs", f"{r['n_runs']} run records ({r['n_reused']} reused from earlier "
                             f"executions{shipped}); compute time recorded in them "
                             f"{r['compute_seconds']:.0f} s"))
        if r["weights_sha256"] != [b["weights_sha256"]]:
            rows.append(("record weights", list(r["weights_sha256"])))
        rows.append(("records made on", list(r["devices"]) + ["at git " + ", ".join(r["git_revisions"])]))
    return rows


def provenance_text(info: dict, title: str = "Provenance") -> str:
    """The block as plain text (logs, scripts)."""
    warning = setting_warning(info)
    rows = [f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in provenance_rows(info)]
    return "\n".join([f"== {title} =="] + ([f"!! {warning}"] if warning else []) + rows)


# ----------------------------------------------------------------------------- the setting sentence


def _sentence(clip: str, data: list[str], recipes: list[str], shots: list, epochs: str,
              seeds: list, n_runs: int | None = None) -> str:
    runs = f" ({n_runs} runs)" if n_runs is not None else ""
    return (f"{clip} on {' and '.join(data)}, recipe {', '.join(recipes)}, "
            f"{', '.join(map(str, shots))} shots, {epochs or 'no training'}, "
            f"seeds {', '.join(map(str, seeds))}{runs}")


def _data_name(data_root) -> str:
    return "the offline mini world" if data_root is None else "the paper's datasets"


def setting_sentence(P) -> str:
    """The setting of a chapter's parameters, before anything ran (glued into the prose)."""
    from .presets import get_recipe

    recipe = get_recipe(P.recipe, P.backbone)
    clip = "the offline mini CLIP" if P.is_mini_backbone else f"CLIP {P.backbone}"
    exceptions = {m: [f"{key.split(':', 1)[1]} {n}" for key, n in recipe.epochs_on.items()
                      if key.split(":", 1)[0] == m] for m in recipe.epochs}
    epochs = (f"{P.epochs} epochs" if P.epochs else
              ", ".join(f"{METHOD_LABELS[m]} {n} epochs"
                        + (f" ({', '.join(exceptions[m])})" if exceptions[m] else "")
                        for m, n in recipe.epochs.items() if m != "zeroshot" or n))
    return _sentence(clip, [_data_name(P.data_root)], [recipe.name], [P.shots or recipe.shots],
                     epochs, P.seeds)


def describe_setting(records: list[dict]) -> str:
    """The setting of a set of run records (the same sentence as :func:`setting_sentence`)."""
    if not records:
        return "no runs"
    bb = sorted({r["backbone"]["backbone"] for r in records})
    mini = any(r["backbone"]["is_mini_clip"] for r in records)
    epochs = sorted({(r["config"]["method"], r["config"]["epochs"]) for r in records
                     if r["config"]["method"] != "zeroshot"})
    clip = "the offline mini CLIP" if mini and bb == ["mini"] else "CLIP " + ", ".join(bb)
    return _sentence(clip, sorted({_data_name(r["config"].get("data_root")) for r in records}),
                     sorted({r["config"]["recipe"] for r in records}),
                     sorted({r["config"]["shots"] for r in records}),
                     ", ".join(f"{METHOD_LABELS[m]} {e} epochs" for m, e in epochs),
                     sorted({r["config"]["seed"] for r in records}), len(records))
