#!/usr/bin/python3
"""Check that a model folder written by lethe loads in Hugging Face diffusers.

    /usr/bin/python3 tools/check_diffusers_load.py MODEL_DIR --diffusers-src /path/to/diffusers/src \
        [--lethe build/lethe] [--compare-npy EPS.npy] [--dump-inputs DIR]

MODEL_DIR is a folder from `lethe train` / `lethe demo` (model_index.json, unet/, scheduler/).
--diffusers-src is the `src` folder of a diffusers checkout (the folder that contains
`diffusers/`); diffusers is imported from there, not installed. Needs PyTorch and numpy.

Checks (each prints PASS/FAIL; the exit status is 1 if any fails, 2 on a usage error):

  layout     model_index.json names DDPMPipeline with unet = [diffusers, UNet2DModel] and
             scheduler = [diffusers, DDPMScheduler]; the subfolder configs agree.
  unet       UNet2DModel.from_pretrained(DIR, subfolder="unet", output_loading_info=True):
             missing_keys, unexpected_keys, mismatched_keys, error_msgs all empty; every
             config.json key is a UNet2DModel argument; every loaded tensor equals the
             tensor in the file.
  scheduler  DDPMScheduler.from_pretrained(DIR, subfolder="scheduler") with no unused
             config keys; DDIMScheduler.from_config(that config) and set_timesteps(10).
  pipeline   DDPMPipeline.from_pretrained(DIR) gives a UNet2DModel + DDPMScheduler; for an
             unconditional UNet it also runs the pipeline for 2 steps (DDPMPipeline cannot
             pass class labels, so a class-conditional UNet is not run through it).
  forward    the loaded UNet on fixed inputs: x = randn((2, in, S, S)) from
             torch.Generator().manual_seed(--seed), t = [10, 500], class_labels =
             [1, num_class_embeds - 1] if class-conditional; prints max |eps|.
             --compare-npy EPS.npy compares that eps with an array computed by lethe
             (tolerance --atol); --dump-inputs DIR writes x.npy, t.npy, labels.npy, eps.npy.
  lethe-sample (with --lethe BIN) runs `BIN sample` (DDIM, --sample-steps steps, eta 0,
             guidance 2 for a class-conditional model) from the same x as initial noise and
             repeats the sampling loop with diffusers' DDIMScheduler + the loaded UNet;
             the final images must agree within --sample-atol.

Packages the import needs that are not installed (huggingface_hub, safetensors, tqdm,
packaging) are replaced by the small stand-ins below, injected into sys.modules: the hub
functions only raise (everything here is local), `safetensors.torch.load_file`/`load` is a
pure-python reader of the safetensors format, and a few attributes that diffusers reads
from newer PyTorch builds (torch.xpu, torch.mps, ...) are filled in when missing. Installed
packages are used as they are. No diffusers code is copied.
"""

import argparse
import importlib.machinery
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import traceback
import types
import warnings

STUBBED = []   # names of the stand-in modules / attributes, for the report


# ---------------------------------------------------------------------------------
# stand-ins for missing packages


def _new_module(name, attrs=None, package=False):
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=package)
    if package:
        m.__path__ = []
    for k, v in (attrs or {}).items():
        setattr(m, k, v)
    sys.modules[name] = m
    if "." in name:
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, m)
    return m


def _missing(name):
    if name in sys.modules:
        return False
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def _offline(name):
    def f(*args, **kwargs):
        raise RuntimeError("huggingface_hub.%s is a stand-in in check_diffusers_load.py (no hub access)" % name)
    f.__name__ = name
    return f


def stub_huggingface_hub():
    if not _missing("huggingface_hub"):
        return
    STUBBED.append("huggingface_hub")

    class HfHubHTTPError(Exception):
        pass

    errors = {n: type(n, (HfHubHTTPError,), {}) for n in
              ("EntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError", "LocalEntryNotFoundError")}
    errors["HfHubHTTPError"] = HfHubHTTPError
    errors["OfflineModeIsEnabled"] = type("OfflineModeIsEnabled", (ConnectionError,), {})

    class DDUFEntry:   # only used as a type and for .dduf archives, which lethe never writes
        pass

    class ModelCard:
        pass

    class ModelCardData:
        pass

    hub_functions = ("hf_hub_download", "snapshot_download", "model_info", "create_repo", "upload_folder",
                     "split_torch_state_dict_into_shards", "get_cached_repo_tree", "read_dduf_file")
    _new_module("huggingface_hub", {
        "__version__": "0.0.0+stub", "DDUFEntry": DDUFEntry, "ModelCard": ModelCard, "ModelCardData": ModelCardData,
        **{n: _offline(n) for n in hub_functions},
    }, package=True)
    _new_module("huggingface_hub.constants", {
        "HF_HOME": os.path.join(os.path.expanduser("~"), ".cache", "huggingface"),
        "HF_HUB_OFFLINE": True, "HF_HUB_DISABLE_TELEMETRY": True,
    })
    _new_module("huggingface_hub.file_download", {"REGEX_COMMIT_HASH": re.compile(r"^[0-9a-f]{40}$")})
    _new_module("huggingface_hub.errors", {"CachedRepoTreeNotFoundError": type("CachedRepoTreeNotFoundError",
                                                                                (HfHubHTTPError,), {})})
    _new_module("huggingface_hub.utils", {
        **errors,
        "validate_hf_hub_args": lambda fn: fn,
        "is_jinja_available": lambda: False,
    }, package=True)


def stub_httpx():
    if not _missing("httpx"):
        return
    STUBBED.append("httpx")
    # diffusers' pipeline loaders only name httpx.NetworkError in an `except` around hub downloads
    _new_module("httpx", {"NetworkError": type("NetworkError", (ConnectionError,), {})})


def stub_safetensors():
    if not _missing("safetensors"):
        return
    STUBBED.append("safetensors (pure-python reader)")
    import torch

    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
              "U8": torch.uint8, "BOOL": torch.bool}

    def load(data, device="cpu"):
        """safetensors.torch.load: bytes of a whole .safetensors file -> {name: tensor}."""
        data = bytes(data)
        if len(data) < 8:
            raise ValueError("safetensors: file shorter than its 8-byte header length")
        (n,) = struct.unpack("<Q", data[:8])
        if 8 + n > len(data):
            raise ValueError("safetensors: header length %d past the end of the file" % n)
        header = json.loads(data[8:8 + n].decode("utf-8"))
        header.pop("__metadata__", None)
        body = memoryview(data)[8 + n:]
        out = {}
        for name, info in header.items():
            dt = dtypes.get(info["dtype"])
            if dt is None:
                raise ValueError("safetensors: %s has unsupported dtype %s" % (name, info["dtype"]))
            b, e = info["data_offsets"]
            if not 0 <= b <= e <= len(body):
                raise ValueError("safetensors: %s has data_offsets %s outside the data" % (name, [b, e]))
            shape = list(info["shape"])
            numel = 1
            for s in shape:
                numel *= s
            if numel * torch.tensor([], dtype=dt).element_size() != e - b:
                raise ValueError("safetensors: %s: %d bytes for shape %s %s" % (name, e - b, shape, info["dtype"]))
            if numel == 0:
                t = torch.empty(shape, dtype=dt)
            else:
                t = torch.frombuffer(bytearray(body[b:e]), dtype=dt).reshape(shape)
            if sys.byteorder != "little" and t.element_size() > 1:
                raise ValueError("safetensors stand-in: big-endian hosts are not supported")
            out[name] = t.to(device) if str(device) != "cpu" else t
        return out

    def load_file(filename, device="cpu"):
        with open(filename, "rb") as f:
            return load(f.read(), device=device)

    _new_module("safetensors", {"__version__": "0.0.0+stub"}, package=True)
    _new_module("safetensors.torch", {"load": load, "load_file": load_file})


def stub_tqdm():
    if not _missing("tqdm"):
        return
    STUBBED.append("tqdm")

    class tqdm:   # iterate / update / close without printing
        def __init__(self, iterable=None, *args, **kwargs):
            self.iterable = iterable
            self.n = 0

        def __iter__(self):
            return iter(self.iterable if self.iterable is not None else ())

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            self.n += n

        def set_description(self, *a, **k):
            pass

        def close(self):
            pass

    _new_module("tqdm", {"tqdm": tqdm}, package=True)
    _new_module("tqdm.auto", {"tqdm": tqdm})


def stub_packaging():
    if not _missing("packaging"):
        return
    STUBBED.append("packaging.version")

    class InvalidVersion(ValueError):
        pass

    pat = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?"
                     r"(?:[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9.]+))?\s*$", re.I)

    class Version:
        """Release numbers, pre/post/dev and local parts of a PEP 440 version; ordered."""

        def __init__(self, s):
            m = pat.match(str(s))
            if not m:
                raise InvalidVersion("Invalid version: '%s'" % s)
            self._s = str(s).strip()
            self.release = tuple(int(x) for x in m.group(1).split("."))
            pre = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}.get(
                (m.group(2) or "").lower(), (m.group(2) or "").lower())
            self.pre = (pre, int(m.group(3) or 0)) if m.group(2) else None
            self.post = int(m.group(5) or 0) if m.group(4) else None
            self.dev = int(m.group(7) or 0) if m.group(6) else None
            self.local = m.group(8)
            rel = self.release
            while len(rel) > 1 and rel[-1] == 0:
                rel = rel[:-1]
            inf = float("inf")
            self._key = (rel,
                         (("", -inf) if self.dev is not None and not self.pre and self.post is None
                          else self.pre if self.pre else ("z", inf)),
                         -inf if self.post is None else self.post,
                         inf if self.dev is None else self.dev)

        base_version = property(lambda self: ".".join(str(x) for x in self.release))
        public = property(lambda self: self._s.split("+")[0])
        major = property(lambda self: self.release[0])
        minor = property(lambda self: self.release[1] if len(self.release) > 1 else 0)
        micro = property(lambda self: self.release[2] if len(self.release) > 2 else 0)
        is_prerelease = property(lambda self: self.pre is not None or self.dev is not None)
        is_devrelease = property(lambda self: self.dev is not None)
        is_postrelease = property(lambda self: self.post is not None)

        def __str__(self):
            return self._s

        def __repr__(self):
            return "<Version('%s')>" % self._s

        def __hash__(self):
            return hash(self._key)

        def _k(self, o):
            return (o if isinstance(o, Version) else Version(o))._key

        __eq__ = lambda self, o: self._key == self._k(o)
        __ne__ = lambda self, o: self._key != self._k(o)
        __lt__ = lambda self, o: self._key < self._k(o)
        __le__ = lambda self, o: self._key <= self._k(o)
        __gt__ = lambda self, o: self._key > self._k(o)
        __ge__ = lambda self, o: self._key >= self._k(o)

    _new_module("packaging", {}, package=True)
    _new_module("packaging.version", {"Version": Version, "parse": Version, "InvalidVersion": InvalidVersion})


def patch_torch():
    """diffusers 0.3x/0.4x reads a few attributes that older PyTorch builds lack."""
    import torch

    def _zero(*a, **k):
        return 0

    class _NoBackend:   # torch.xpu / torch.mps on a build without them: nothing is available
        def __init__(self, name):
            self._name = name

        def is_available(self):
            return False

        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _zero

    for name in ("xpu", "mps"):
        if not hasattr(torch, name):
            setattr(torch, name, _NoBackend(name))
            STUBBED.append("torch." + name)
    import torch.distributed
    if not hasattr(torch.distributed, "device_mesh"):   # only named in type annotations
        torch.distributed.device_mesh = types.SimpleNamespace(DeviceMesh=type("DeviceMesh", (), {}))
        STUBBED.append("torch.distributed.device_mesh")
    if not hasattr(torch, "compiler"):   # torch.compiler arrived in PyTorch 2.1; eager mode here
        def disable(fn=None, recursive=True):
            return fn if fn is not None else (lambda f: f)
        _new_module("torch.compiler", {"disable": disable})
        STUBBED.append("torch.compiler")
    if torch.distributed.is_available() and _missing("torch.distributed._functional_collectives"):
        # imported at module level for context-parallel attention; never called on one CPU
        _new_module("torch.distributed._functional_collectives")
        STUBBED.append("torch.distributed._functional_collectives")
    # float8 dtypes (PyTorch 2.1+) named in default arguments and dtype tables at import time;
    # a placeholder object never equals a real tensor's dtype
    placeholders = []
    for name in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, name):
            setattr(torch, name, object())
            placeholders.append(name)
    if placeholders:
        STUBBED.append("torch dtype placeholders (%s)" % ", ".join(placeholders))


def import_diffusers(src):
    if not os.path.isfile(os.path.join(src, "diffusers", "__init__.py")):
        print("check_diffusers_load: %s has no diffusers/__init__.py (pass diffusers' src folder)" % src,
              file=sys.stderr)
        sys.exit(2)
    stub_packaging()
    stub_tqdm()
    stub_huggingface_hub()
    stub_httpx()
    stub_safetensors()
    patch_torch()
    sys.path.insert(0, os.path.abspath(src))
    import diffusers
    return diffusers


# ---------------------------------------------------------------------------------
# checks


class Report:
    def __init__(self, show_tracebacks=False):
        self.rows = []
        self.show_tracebacks = show_tracebacks

    def check(self, name, ok, detail=""):
        self.rows.append((name, bool(ok), detail))
        print("[%s] %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""), flush=True)
        return ok

    def error(self, name, exc):
        if self.show_tracebacks:
            traceback.print_exc()
        return self.check(name, False, "%s: %s" % (type(exc).__name__, exc))

    @property
    def failed(self):
        return [r for r in self.rows if not r[1]]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def fixed_inputs(torch, unet, seed):
    cfg = unet.config
    s = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, cfg.in_channels, s, s), generator=g, dtype=torch.float32)
    t = torch.tensor([10, 500], dtype=torch.long)
    labels = None
    if cfg.num_class_embeds is not None:
        labels = torch.tensor([1, cfg.num_class_embeds - 1], dtype=torch.long)
    return x, t, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", help="model folder written by lethe")
    ap.add_argument("--diffusers-src", required=True, help="diffusers' src folder (contains diffusers/)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fixed input x (default 0)")
    ap.add_argument("--compare-npy", metavar="EPS.npy", help="eps computed by lethe on the same inputs")
    ap.add_argument("--atol", type=float, default=1e-4, help="tolerance for --compare-npy (default 1e-4)")
    ap.add_argument("--dump-inputs", metavar="DIR", help="write x.npy, t.npy, labels.npy, eps.npy here")
    ap.add_argument("--lethe", metavar="BIN", help="lethe binary: also compare a DDIM run of `lethe sample`")
    ap.add_argument("--sample-steps", type=int, default=10, help="DDIM steps for --lethe (default 10)")
    ap.add_argument("--sample-atol", type=float, default=1e-3, help="tolerance for --lethe (default 1e-3)")
    ap.add_argument("--traceback", action="store_true", help="print the traceback of a failed check")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()

    folder = os.path.abspath(args.model_dir)
    if not os.path.isdir(folder):
        print("check_diffusers_load: %s is not a folder" % folder, file=sys.stderr)
        return 2

    import numpy as np
    import torch
    torch.set_num_threads(max(1, args.threads))
    diffusers = import_diffusers(args.diffusers_src)
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    try:
        from diffusers import DDPMPipeline
    except Exception as e:   # keep the model / scheduler checks; the pipeline check reports this
        DDPMPipeline, pipeline_import_error = None, e
    diffusers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    print("diffusers %s from %s; torch %s; stand-ins: %s" % (
        diffusers.__version__, os.path.dirname(diffusers.__file__), torch.__version__, ", ".join(STUBBED) or "none"))
    print("model folder: %s" % folder)
    R = Report(args.traceback)

    # -- layout ---------------------------------------------------------------------
    try:
        idx = read_json(os.path.join(folder, "model_index.json"))
        ucfg = read_json(os.path.join(folder, "unet", "config.json"))
        scfg = read_json(os.path.join(folder, "scheduler", "scheduler_config.json"))
        comps = sorted(k for k in idx if not k.startswith("_"))
        expected_comps = ["scheduler", "unet"]   # DDPMPipeline.__init__(self, unet, scheduler)
        if DDPMPipeline is not None:
            expected_comps = sorted(DDPMPipeline._get_signature_keys(DDPMPipeline)[0])
        problems = []
        if idx.get("_class_name") != "DDPMPipeline":
            problems.append("_class_name %r" % idx.get("_class_name"))
        if comps != expected_comps:
            problems.append("components %s, DDPMPipeline takes %s" % (comps, expected_comps))
        if idx.get("unet") != ["diffusers", "UNet2DModel"]:
            problems.append("unet %r" % idx.get("unet"))
        if idx.get("scheduler") != ["diffusers", "DDPMScheduler"]:
            problems.append("scheduler %r" % idx.get("scheduler"))
        if ucfg.get("_class_name") != "UNet2DModel":
            problems.append("unet/config.json _class_name %r" % ucfg.get("_class_name"))
        if scfg.get("_class_name") != "DDPMScheduler":
            problems.append("scheduler_config.json _class_name %r" % scfg.get("_class_name"))
        if not os.path.isfile(os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors")):
            problems.append("no unet/diffusion_pytorch_model.safetensors")
        R.check("layout", not problems, "; ".join(problems) or
                "DDPMPipeline(unet=UNet2DModel, scheduler=DDPMScheduler), weights in safetensors")
    except Exception as e:
        R.error("layout", e)
        ucfg = {}

    # -- unet -----------------------------------------------------------------------
    unet = None
    try:
        unet, info = UNet2DModel.from_pretrained(folder, subfolder="unet", output_loading_info=True)
        unet.eval()
        keys = ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
        bad = {k: info.get(k) for k in keys if info.get(k)}
        n_params = sum(p.numel() for p in unet.parameters())
        R.check("unet loading_info", not bad and all(k in info for k in keys),
                "; ".join("%s=%s" % kv for kv in bad.items()) or
                "missing_keys, unexpected_keys, mismatched_keys, error_msgs all empty (%d tensors, %d parameters)"
                % (len(unet.state_dict()), n_params))
        _, unused, _ = UNet2DModel.extract_init_dict(dict(ucfg))
        unused = sorted(k for k in unused if not k.startswith("_"))
        R.check("unet config keys", not unused,
                ("not UNet2DModel arguments (ignored by diffusers): %s" % unused) if unused else
                "all %d keys of unet/config.json are UNet2DModel arguments"
                % len([k for k in ucfg if not k.startswith("_")]))
        import safetensors.torch
        file_sd = safetensors.torch.load_file(os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors"))
        sd = unet.state_dict()
        diff = [k for k in sd if k not in file_sd or file_sd[k].shape != sd[k].shape
                or not torch.equal(file_sd[k].to(sd[k].dtype), sd[k])]
        dts = sorted({str(v.dtype).replace("torch.", "") for v in file_sd.values()})
        R.check("unet weights", not diff and len(file_sd) == len(sd),
                ("differ from the file: %s" % diff[:5]) if diff else
                "%d tensors (%s) equal to the file" % (len(sd), "/".join(dts)))
    except Exception as e:
        R.error("unet loading_info", e)

    # -- scheduler --------------------------------------------------------------------
    ddpm = None
    try:
        ddpm = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
        raw = DDPMScheduler.load_config(folder, subfolder="scheduler")
        _, unused, _ = DDPMScheduler.extract_init_dict(dict(raw))
        unused = sorted(k for k in unused if not k.startswith("_"))
        c = ddpm.config
        R.check("scheduler DDPMScheduler", not unused,
                ("unused keys %s" % unused) if unused else
                "T=%d, %s betas %g..%g, %s, variance %s, clip_sample %s" % (
                    c.num_train_timesteps, c.beta_schedule, c.beta_start, c.beta_end, c.prediction_type,
                    c.variance_type, c.clip_sample))
        ddim = DDIMScheduler.from_config(ddpm.config)
        ddim.set_timesteps(10)
        R.check("scheduler DDIMScheduler.from_config", True,
                "10 steps -> timesteps %s" % ddim.timesteps.tolist())
    except Exception as e:
        R.error("scheduler", e)

    # -- pipeline ---------------------------------------------------------------------
    try:
        if DDPMPipeline is None:
            raise RuntimeError("cannot import DDPMPipeline: %s" % pipeline_import_error)
        pipe = DDPMPipeline.from_pretrained(folder)
        ok = type(pipe.unet).__name__ == "UNet2DModel" and type(pipe.scheduler).__name__ == "DDPMScheduler"
        detail = "DDPMPipeline.from_pretrained -> %s + %s" % (type(pipe.unet).__name__, type(pipe.scheduler).__name__)
        if ok and pipe.unet.config.num_class_embeds is None:
            out = pipe(batch_size=1, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                       output_type="np").images
            ok = out.shape[0] == 1 and bool(np.isfinite(out).all())
            detail += "; 2-step run gives images %s in [%.3f, %.3f]" % (tuple(out.shape), out.min(), out.max())
        elif ok:
            detail += " (not run: DDPMPipeline.__call__ passes no class_labels, the UNet is class-conditional)"
        R.check("pipeline", ok, detail)
    except Exception as e:
        R.error("pipeline", e)

    # -- forward ----------------------------------------------------------------------
    if unet is not None:
        try:
            x, t, labels = fixed_inputs(torch, unet, args.seed)
            with torch.no_grad():
                eps = unet(x, t, class_labels=labels).sample
            ok = (tuple(eps.shape) == (2, unet.config.out_channels) + tuple(x.shape[2:])
                  and bool(torch.isfinite(eps).all()))
            R.check("forward", ok, "x %s seed %d, t %s, labels %s -> eps %s, max |eps| %.6f" % (
                tuple(x.shape), args.seed, t.tolist(), None if labels is None else labels.tolist(),
                tuple(eps.shape), eps.abs().max().item()))
            if args.dump_inputs:
                os.makedirs(args.dump_inputs, exist_ok=True)
                np.save(os.path.join(args.dump_inputs, "x.npy"), x.numpy().astype(np.float32))
                np.save(os.path.join(args.dump_inputs, "t.npy"), t.numpy().astype(np.int64))
                if labels is not None:
                    np.save(os.path.join(args.dump_inputs, "labels.npy"), labels.numpy().astype(np.int64))
                np.save(os.path.join(args.dump_inputs, "eps.npy"), eps.numpy().astype(np.float32))
                print("wrote x.npy, t.npy%s, eps.npy (diffusers) to %s" % (
                    "" if labels is None else ", labels.npy", args.dump_inputs))
            if args.compare_npy:
                ref = np.load(args.compare_npy).astype(np.float64)
                if ref.shape != tuple(eps.shape):
                    R.check("compare-npy", False,
                            "%s has shape %s, eps %s" % (args.compare_npy, ref.shape, tuple(eps.shape)))
                else:
                    d = float(np.abs(ref - eps.numpy().astype(np.float64)).max())
                    R.check("compare-npy", d <= args.atol,
                            "max |eps_lethe - eps_diffusers| = %.3g (atol %g)" % (d, args.atol))
        except Exception as e:
            R.error("forward", e)

    # -- lethe sample vs diffusers DDIM -------------------------------------------------
    if args.lethe and unet is not None and ddpm is not None:
        try:
            x, _, _ = fixed_inputs(torch, unet, args.seed)
            cond = unet.config.num_class_embeds is not None
            guidance = 2.0 if cond else 1.0
            with tempfile.TemporaryDirectory() as tmp:
                np.save(os.path.join(tmp, "x.npy"), x.numpy().astype(np.float32))
                cmd = [args.lethe, "sample", "--model", folder, "--sampler", "ddim",
                       "--steps", str(args.sample_steps), "--eta", "0", "--guidance", str(guidance),
                       "--noise", os.path.join(tmp, "x.npy"),
                       "--npy", os.path.join(tmp, "out.npy"), "--out", os.path.join(tmp, "grid.png"),
                       "--threads", str(max(1, args.threads))]
                if cond:
                    classes = [1, unet.config.num_class_embeds - 2]
                    cmd += ["--class", "%d,%d" % tuple(classes), "--n", "1"]
                else:
                    classes = None
                    cmd += ["--n", "2"]
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
                if p.returncode != 0:
                    raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stdout.strip()[-400:]))
                lethe_out = np.load(os.path.join(tmp, "out.npy")).astype(np.float64)
            sched = DDIMScheduler.from_config(ddpm.config)
            sched.set_timesteps(args.sample_steps)
            xs = x.clone()
            lab = torch.tensor(classes) if cond else None
            null = torch.full((2,), unet.config.num_class_embeds - 1) if cond else None
            with torch.no_grad():
                for ts in sched.timesteps:
                    tt = torch.full((2,), int(ts), dtype=torch.long)
                    e = unet(xs, tt, class_labels=lab).sample
                    if cond:
                        eu = unet(xs, tt, class_labels=null).sample
                        e = eu + guidance * (e - eu)
                    xs = sched.step(e, ts, xs, eta=0.0).prev_sample
            d = float(np.abs(lethe_out - xs.numpy().astype(np.float64)).max())
            R.check("lethe-sample", lethe_out.shape == tuple(xs.shape) and d <= args.sample_atol,
                    "DDIM %d steps, eta 0, guidance %g%s: max |x_lethe - x_diffusers| = %.3g (atol %g)" % (
                        args.sample_steps, guidance, (", classes %s" % classes) if cond else "", d, args.sample_atol))
        except Exception as e:
            R.error("lethe-sample", e)

    failed = R.failed
    print("%s: %d/%d checks passed%s" % ("PASS" if not failed else "FAIL", len(R.rows) - len(failed), len(R.rows),
                                         "" if not failed else " (failed: %s)" % ", ".join(r[0] for r in failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
