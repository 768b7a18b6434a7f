# SPDX-License-Identifier: GPL-3.0-or-later
"""The API verbs on top of the store: admission, subresources, patches, graceful pod deletion."""
from __future__ import annotations

import json

import yaml

from . import admission, errors, patch, selectors
from .resources import BY_PATH, RESOURCES
from .store import now, random_suffix

NAMESPACES = BY_PATH[("", "namespaces")]
PODS = BY_PATH[("", "pods")]
PATCH_TYPES = {
    "application/strategic-merge-patch+json": patch.strategic_merge_patch,
    "application/merge-patch+json": patch.json_merge_patch,
    "application/json-patch+json": patch.json_patch,
}


def _decode(body):
    try:
        return yaml.safe_load(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise errors.bad_request(f"the request body is not JSON or YAML: {err}") from None


class Api:
    def __init__(self, store):
        self.store = store

    # --- reads -------------------------------------------------------------------------

    def get(self, res, ns, name):
        return self.store.must_get(res, ns, name)

    def list(self, res, ns, label_selector="", field_selector=""):
        try:
            labels, fields = selectors.parse_labels(label_selector), selectors.parse_fields(field_selector)
        except selectors.SelectorError as err:
            raise errors.bad_request(str(err)) from None
        return self.store.list(res, ns, lambda obj: selectors.matches_labels(labels, obj["metadata"].get("labels"))
                               and selectors.matches_fields(fields, obj))

    # --- writes ------------------------------------------------------------------------

    def create(self, res, ns, body, dry_run=False):
        obj = _decode(body)
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be an object")
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace", ns) != ns:
                raise errors.bad_request(f"the namespace of the object ({meta['namespace']}) does not match the "
                                         f"namespace on the request ({ns})")
            meta["namespace"] = ns
            self.store.must_get(NAMESPACES, "", ns)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        if res.has_status and res.plural != "pods":
            obj.pop("status", None)  # controllers own workload status
        admission.apply_defaults(res, obj)
        admission.validate(res, obj)
        return obj if dry_run else self.store.create(res, obj)

    def replace(self, res, ns, name, body, dry_run=False):
        obj = _decode(body)
        if not isinstance(obj, dict) or (obj.get("metadata") or {}).get("name") != name:
            raise errors.bad_request(f"the name of the object does not match the name on the URL ({name})")
        return self._write(res, ns, name, obj, dry_run)

    def _write(self, res, ns, name, obj, dry_run, check_version=True):
        current = self.store.must_get(res, ns, name)
        if res.namespaced:
            obj["metadata"]["namespace"] = ns
        if res.has_status:
            obj["status"] = current.get("status", {})  # status has its own subresource
        admission.apply_defaults(res, obj)
        admission.validate(res, obj)
        if dry_run:
            return obj
        return self.store.update(res, obj, check_version=check_version)

    def patch(self, res, ns, name, content_type, body, dry_run=False):
        current = self.store.must_get(res, ns, name)
        patched = self._patched(current, content_type, body)
        if patched.get("metadata", {}).get("name") != name:
            raise errors.bad_request("a patch cannot change the name of the object")
        # A resourceVersion in the patch is a precondition; otherwise the patch applies to the latest.
        check = patched["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]
        return self._write(res, ns, name, patched, dry_run, check_version=check)

    @staticmethod
    def _patched(current, content_type, body):
        kind = (content_type or "").split(";")[0].strip()
        if kind not in PATCH_TYPES:
            raise errors.ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                                  f"accepted media types include: {', '.join(PATCH_TYPES)}")
        try:
            document = json.loads(body or b"null")
            return PATCH_TYPES[kind](current, document)
        except (ValueError, patch.PatchError) as err:
            raise errors.ApiError(422 if isinstance(err, patch.PatchError) else 400,
                                  "Invalid" if isinstance(err, patch.PatchError) else "BadRequest",
                                  f"invalid patch: {err}") from None

    def delete(self, res, ns, name, grace_period=None):
        """Pods with a grace period are marked and left to the kubelet; everything else goes now."""
        obj = self.store.must_get(res, ns, name)
        if res is PODS:
            grace = obj["spec"].get("terminationGracePeriodSeconds", 30) if grace_period is None else grace_period
            if grace > 0 and obj.get("status", {}).get("phase") not in ("Pending", None):
                def mark(pod):
                    pod["metadata"].setdefault("deletionTimestamp", now())
                    pod["metadata"]["deletionGracePeriodSeconds"] = grace
                return self.store.mutate(res, ns, name, mark)
        if res is NAMESPACES:
            for namespaced in (r for r in RESOURCES if r.namespaced):
                for child in self.store.list(namespaced, name)[0]:
                    self.store.delete(namespaced, name, child["metadata"]["name"])
        return self.store.delete(res, ns, name)

    # --- subresources --------------------------------------------------------------------

    def get_scale(self, res, ns, name):
        obj = self.store.must_get(res, ns, name)
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
                "spec": {"replicas": obj["spec"].get("replicas", 0)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                           "selector": selectors.to_string(selectors.from_label_selector(obj["spec"]["selector"]))}}

    def put_scale(self, res, ns, name, scale, dry_run=False):
        obj = self.store.must_get(res, ns, name)
        wanted_version = (scale.get("metadata") or {}).get("resourceVersion")
        if wanted_version and wanted_version != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(res, name,
                                 [("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")])
        obj["spec"]["replicas"] = replicas
        self._write(res, ns, name, obj, dry_run, check_version=False)
        return self.get_scale(res, ns, name)

    def replace_scale(self, res, ns, name, body, dry_run=False):
        return self.put_scale(res, ns, name, _decode(body) or {}, dry_run)

    def patch_scale(self, res, ns, name, content_type, body, dry_run=False):
        current = self.get_scale(res, ns, name)
        patched = self._patched(current, content_type, body)
        if patched["metadata"].get("resourceVersion") == current["metadata"]["resourceVersion"]:
            patched["metadata"].pop("resourceVersion")
        return self.put_scale(res, ns, name, patched, dry_run)

    def write_status(self, res, ns, name, status):
        def replace(obj):
            obj["status"] = status
        written = self.store.mutate(res, ns, name, replace)
        if written is None:
            raise errors.not_found(res, name)
        return written

    def replace_status(self, res, ns, name, body):
        return self.write_status(res, ns, name, (_decode(body) or {}).get("status", {}))

    def patch_status(self, res, ns, name, content_type, body):
        current = self.store.must_get(res, ns, name)
        return self.write_status(res, ns, name, self._patched(current, content_type, body).get("status", {}))


def make_namespace(name):
    return admission.apply_defaults(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": name, "labels": {
                                                     "kubernetes.io/metadata.name": name}}})
