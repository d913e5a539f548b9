"""What `repsl_tagger` and `repsl_decoder` share about the decoder they own: saving and loading
what was trained (adapters, and a head when there is one) with the base's reference, pinned
revision and fingerprint, and the checks that a saved pipeline is loaded on the base and with the
method settings it was trained with. A mixin for spaCy pipes whose `model` is built by
`models.decoder_tagger` (`DecoderTagger.v1`/`.v2` or `Decoder.v1`/`.v2`) and whose `cfg` holds `bundle_base`.
"""

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import srsly

from ..pipeline.weights import BASE_DIR, TRAINABLE_FILE
from ..storage.atomic import atomic_directory


class SavedPipelineMismatch(ValueError):
    """A saved pipeline loaded with another base model or other method settings."""


def read_json_file(path: Path) -> Any:
    try:
        return srsly.read_json(path)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): the saved pipeline is damaged. Save it again.") from None


def check_accept_changes(names: Sequence[str]) -> List[str]:
    from .fingerprint import METHOD_SETTINGS

    allowed = ("base",) + METHOD_SETTINGS
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"Invalid accept_changes {unknown}: use any of {list(allowed)}.")
    return list(names)


class DecoderState:
    """Mixin: needs `self.model`, `self.name`, `self.cfg` (with "bundle_base") and `self.accept_changes`."""

    model: Any
    name: str
    cfg: Dict[str, Any]
    accept_changes: List[str]

    def _decoder_to_disk(self, path: Any, labels: Sequence[str]) -> None:
        """cfg, decoder.json (the base reference), trainable.safetensors, and with bundle_base the
        base checkpoint in base/. Written atomically."""
        from ..models.decoder_tagger import get_runtime
        from ..pipeline.weights import bundle_base, trainable_bytes

        runtime = get_runtime(self.model)
        self._check_not_merged(runtime)
        settings = self.model.attrs["settings"]
        state = self._finite_state(runtime)
        with atomic_directory(path) as tmp:
            srsly.write_json(tmp / "cfg", self.cfg)
            (tmp / TRAINABLE_FILE).write_bytes(trainable_bytes(state, labels))
            srsly.write_json(tmp / "decoder.json", self._decoder_info(runtime))
            if self.cfg["bundle_base"]:
                source = runtime.base_path or settings.name
                bundle_base(str(source), None if runtime.base_path else settings.revision, tmp / BASE_DIR)

    def _decoder_from_disk(
        self, path: Path, load_cfg: Callable[[Dict[str, Any]], None], labels: Callable[[], Sequence[str]]
    ) -> None:
        from ..models.decoder_tagger import load_runtime, set_folded
        from ..pipeline.weights import AdapterFileError, load_trainable

        for required in ("cfg", TRAINABLE_FILE):
            if not (path / required).is_file():
                raise AdapterFileError(
                    f"{path / required} is missing: {path} is not a complete saved {self.name}. "
                    "Save the trained pipeline again (nlp.to_disk)."
                )
        load_cfg(read_json_file(path / "cfg"))
        info = read_json_file(path / "decoder.json") if (path / "decoder.json").is_file() else {}
        self._check_method(info, str(path))
        base = path / BASE_DIR
        bundled = base if base.is_dir() else None
        runtime = load_runtime(self.model, base_path=bundled, revision=None if bundled else self._pinned(info))
        self._check_base(info, runtime, str(path))
        set_folded(runtime, False)  # new adapter values must not be unmerged from folded old ones
        load_trainable(runtime.module, (path / TRAINABLE_FILE).read_bytes(), str(path / TRAINABLE_FILE), labels())

    def _decoder_to_bytes(self, labels: Sequence[str]) -> bytes:
        from ..models.decoder_tagger import get_runtime
        from ..pipeline.weights import trainable_bytes

        runtime = get_runtime(self.model)
        self._check_not_merged(runtime)
        return srsly.msgpack_dumps(
            {
                "cfg": self.cfg,
                "decoder": self._decoder_info(runtime),
                "trainable": trainable_bytes(self._finite_state(runtime), labels),
            }
        )

    def _decoder_from_bytes(
        self, bytes_data: bytes, load_cfg: Callable[[Dict[str, Any]], None], labels: Callable[[], Sequence[str]]
    ) -> None:
        from ..models.decoder_tagger import load_runtime, set_folded
        from ..pipeline.weights import load_trainable

        data = srsly.msgpack_loads(bytes_data)
        load_cfg(data["cfg"])
        info = data.get("decoder") or {}
        self._check_method(info, "the serialized bytes")
        runtime = load_runtime(self.model, revision=self._pinned(info))
        self._check_base(info, runtime, "the serialized bytes")
        set_folded(runtime, False)  # new adapter values must not be unmerged from folded old ones
        load_trainable(runtime.module, data["trainable"], "the serialized bytes", labels())

    def _finite_state(self, runtime: Any) -> Dict[str, Any]:
        from ..models.decoder_tagger import set_folded
        from ..storage.finite import check_weights

        set_folded(runtime, False)  # the adapters as adapters, not folded into the base
        state = runtime.module.trainable_state()
        check_weights(state, f"of {self.name}, about to be saved,")
        return state

    def _check_not_merged(self, runtime: Any) -> None:
        if runtime.merged:
            raise ValueError(
                f"{self.name} has merged its LoRA adapters into the base weights (merge_adapters), "
                "so they can no longer be saved as adapters. Save the pipeline before merging, and "
                "merge again after loading it."
            )

    def _method(self) -> Dict[str, Any]:
        settings, attrs = self.model.attrs["settings"], self.model.attrs
        lora = settings.lora
        return {
            "repetitions": settings.repetitions,
            "unmask": str(settings.unmask),
            "exit_layer": settings.exit_layer,
            "pooling": attrs["pooling"],
            "positions": settings.positions,
            "bos": settings.bos,
            "max_length": attrs["max_length"],
            "window_context": attrs["window_context"],
            "lora_r": lora.r if lora else None,
            "lora_alpha": lora.alpha if lora else None,
            "lora_target_modules": sorted(lora.target_modules) if lora else None,
            "lora_bias": lora.bias if lora else None,
        }

    def _decoder_info(self, runtime: Any) -> Dict[str, Any]:
        """The base model (reference, pinned revision, fingerprint) and the method settings the
        weights were trained with; checked when the pipeline is loaded."""
        from ..pipeline.weights import pinned_revision

        settings = self.model.attrs["settings"]
        revision = runtime.revision if runtime.base_path is None else None
        return {
            "name": settings.name,
            "revision": pinned_revision(settings.name, self._base_directory(runtime)) or revision,
            "quantization": settings.quantization,
            "method": self._method(),
            "base_fingerprint": self._base_fingerprint(runtime),
        }

    def _base_directory(self, runtime: Any) -> Path:
        """Where the loaded base's files are: the bundled copy, a local path, or the hub cache."""
        from ..pipeline.weights import base_source

        return runtime.base_path or base_source(self.model.attrs["settings"].name, runtime.revision)

    def _base_fingerprint(self, runtime: Any) -> Dict[str, Any]:
        """The loaded base's fingerprint, read once (every checkpoint of a training run saves it)."""
        from .fingerprint import base_fingerprint

        if runtime.base_fingerprint is None:
            runtime.base_fingerprint = base_fingerprint(self._base_directory(runtime))
        return runtime.base_fingerprint

    def _pinned(self, info: Dict[str, Any]) -> Optional[str]:
        """The config's revision, or else the commit the pipeline was saved with."""
        return self.model.attrs["settings"].revision or info.get("revision")

    def _check_method(self, info: Dict[str, Any], where: str) -> None:
        from .fingerprint import method_differences

        differs = {
            key: text
            for key, text in method_differences(info.get("method") or {}, self._method()).items()
            if key not in self.accept_changes
        }
        if differs:
            raise SavedPipelineMismatch(
                f"The settings of {self.name} differ from the ones its weights in {where} were trained with: "
                f"{'; '.join(differs.values())}. The predictions would change. Restore them in config.cfg, or, if "
                f"you mean it, accept the change: [components.{self.name}] accept_changes = {json.dumps(list(differs))}."
            )

    def _check_base(self, info: Dict[str, Any], runtime: Any, where: str) -> None:
        from .fingerprint import fingerprint_differences

        saved = info.get("base_fingerprint")
        if not saved or "base" in self.accept_changes:
            return
        differs = fingerprint_differences(saved, self._base_fingerprint(runtime))
        if differs:
            raise SavedPipelineMismatch(
                f"The base model loaded for {self.name} ({self._base_directory(runtime)}) is not the one its weights in {where} were "
                f"trained on: {'; '.join(differs)}. Point the model's `name` (and `revision`) at the original base, "
                "or save with bundle_base = true; if you mean to use this base, accept it: "
                f'[components.{self.name}] accept_changes = ["base"].'
            )
