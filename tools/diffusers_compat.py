"""Stand-ins that let a diffusers source tree import under Debian's python3-torch 1.13.

    import diffusers_compat
    diffusers = diffusers_compat.import_diffusers("/path/to/diffusers/src")
    print(diffusers_compat.STUBBED)            # the stand-ins that were needed

    /usr/bin/python3 tools/diffusers_compat.py --diffusers-src SRC [--needed]

Shared by tools/check_diffusers_load.py and tests/fixtures/unet_cond_ref.py. diffusers is
imported from its `src` folder, not installed. Packages it imports that are not installed are
replaced by small stand-ins injected into sys.modules, and a few attributes and modules of newer
PyTorch builds are filled in when missing; installed packages and present attributes are used as
they are. Every stand-in only makes an import succeed on one CPU with local files: the hub
functions raise, the image/file-lock packages are empty, the PyTorch additions are never reached
by the UNet2DModel / UNet2DConditionModel / DDPM / DDIM code paths the checks run. No diffusers
code is copied.

Run as a script it imports diffusers and the classes the checks use, and prints the stand-ins in
use; --needed retries the import once without each of them (in a subprocess) and prints the error
that stand-in prevents, which is how docs/interop.md's per-version table was measured.
"""

import atexit
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import warnings

STUBBED = []   # names of the stand-ins in use, for the report (keys of STANDINS)


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


# ---------------------------------------------------------------------------------
# huggingface_hub: constants, errors, and hub functions that only raise


class HfHubHTTPError(Exception):
    pass


def _offline(name):
    def f(*args, **kwargs):
        raise RuntimeError("huggingface_hub.%s is a stand-in in tools/diffusers_compat.py (no hub access)" % name)
    f.__name__ = name
    return f


def _hub_getattr(modname):
    """Module __getattr__ for the hub stand-in: each diffusers release imports a different set of
    names. CamelCase names ending in Error/Exception/Enabled are exception classes (named in
    `except` clauses), other CamelCase names plain classes (type annotations, isinstance), lower-case
    names functions that raise. Upper-case constants are not guessed: they are listed below."""
    def __getattr__(name):
        if name.startswith("__") or name.isupper():
            raise AttributeError("%s.%s (stand-in)" % (modname, name))
        if name[0].isupper():
            exc = re.search(r"(Error|Exception|Enabled)$", name)
            value = type(name, (HfHubHTTPError,) if exc else (), {"__module__": modname})
        else:
            value = _offline(name)
        setattr(sys.modules[modname], name, value)
        return value
    return __getattr__


class _HubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves every huggingface_hub.* submodule (huggingface_hub._commit_api, .cli._output, ...)."""

    def find_spec(self, name, path, target=None):
        if name.startswith("huggingface_hub."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__path__ = []
        module.__getattr__ = _hub_getattr(module.__name__)


def _hf_home():
    # diffusers <= 0.31 writes a cache-version file into HF_HUB_CACHE at import: keep it out of ~
    d = tempfile.mkdtemp(prefix="diffusers_compat_hf_home_")
    atexit.register(shutil.rmtree, d, True)
    return d


def stub_huggingface_hub():
    if not _missing("huggingface_hub"):
        return False

    class DDUFEntry:   # only used as a type and for .dduf archives, which lethe never writes
        pass

    hub = _new_module("huggingface_hub", {"__version__": "0.0.0+stub", "DDUFEntry": DDUFEntry}, package=True)
    hub.__getattr__ = _hub_getattr("huggingface_hub")
    home = _hf_home()
    cache = os.path.join(home, "hub")
    _new_module("huggingface_hub.constants", {
        "HF_HOME": home, "HF_HUB_CACHE": cache, "HUGGINGFACE_HUB_CACHE": cache,
        "HF_HUB_OFFLINE": True, "HF_HUB_DISABLE_TELEMETRY": True, "ENDPOINT": "https://huggingface.co",
        "HUGGINGFACE_CO_RESOLVE_ENDPOINT": "https://huggingface.co", "DEFAULT_REVISION": "main",
    })
    _new_module("huggingface_hub.file_download", {"REGEX_COMMIT_HASH": re.compile(r"^[0-9a-f]{40}$")})
    for sub in ("utils", "errors"):
        m = _new_module("huggingface_hub." + sub, {"HfHubHTTPError": HfHubHTTPError,
                                                    "validate_hf_hub_args": lambda fn: fn,
                                                    "is_jinja_available": lambda: False}, package=True)
        m.__getattr__ = _hub_getattr(m.__name__)
    sys.meta_path.insert(0, _HubFinder())
    return True


def stub_httpx():
    if not _missing("httpx"):
        return False
    # diffusers' pipeline loaders only name httpx.NetworkError in an `except` around hub downloads
    _new_module("httpx", {"NetworkError": type("NetworkError", (ConnectionError,), {})})
    return True


def stub_safetensors():
    if not _missing("safetensors"):
        return False
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
    return True


def stub_tqdm():
    if not _missing("tqdm"):
        return False

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
    return True


def stub_packaging():
    if not _missing("packaging"):
        return False

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
    return True


# ---------------------------------------------------------------------------------
# empty packages: only image, file-lock and hub helpers use them, never the checks' code paths


class _EmptyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the named top-level packages (and their submodules) as mock modules: any attribute
    chain (PIL.Image.Resampling.BICUBIC in a default argument) resolves, nothing does anything."""

    def __init__(self):
        self.tops = set()

    def find_spec(self, name, path, target=None):
        if any(name == t or name.startswith(t + ".") for t in self.tops):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        from unittest import mock
        m = mock.MagicMock(name=spec.name)
        m.__path__, m.__spec__, m.__name__, m.__version__ = [], spec, spec.name, "10.0.0"
        return m

    def exec_module(self, module):
        pass


_EMPTY = _EmptyFinder()


def _empty(name):
    def stub():
        if not _missing(name):
            return False
        if _EMPTY not in sys.meta_path:
            sys.meta_path.insert(0, _EMPTY)
        _EMPTY.tops.add(name)
        return True
    return stub


def stub_dependency_check():
    """diffusers/dependency_versions_check.py asks importlib.metadata for requests and filelock at
    import; a stand-in module has no distribution metadata, so skip that check when one is missing."""
    lacking = []
    for pkg in ("requests", "filelock"):
        try:
            importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            lacking.append(pkg)
    if not lacking:
        return False
    _new_module("diffusers.dependency_versions_check", {"dep_version_check": lambda *a, **k: None})
    return True


# ---------------------------------------------------------------------------------
# PyTorch: attributes and modules of 2.x builds that diffusers touches at import


def _torch_backend(name):
    def stub():
        import torch
        if hasattr(torch, name):
            return False

        class _NoBackend:   # torch.xpu / torch.mps on a build without them: nothing is available
            def is_available(self):
                return False

            def __getattr__(self, attr):
                if attr.startswith("__"):
                    raise AttributeError(attr)
                return lambda *a, **k: 0

        setattr(torch, name, _NoBackend())
        return True
    return stub


def stub_device_mesh():
    import torch.distributed
    if hasattr(torch.distributed, "device_mesh"):
        return False
    # only named in type annotations
    torch.distributed.device_mesh = types.SimpleNamespace(DeviceMesh=type("DeviceMesh", (), {}))
    return True


def stub_compiler():
    import torch
    if hasattr(torch, "compiler"):
        return False

    def disable(fn=None, recursive=True):   # torch.compiler arrived in PyTorch 2.1; eager mode here
        return fn if fn is not None else (lambda f: f)

    _new_module("torch.compiler", {"disable": disable})
    return True


def stub_functional_collectives():
    import torch.distributed
    if not torch.distributed.is_available() or not _missing("torch.distributed._functional_collectives"):
        return False
    # imported at module level for context-parallel attention; never called on one CPU
    _new_module("torch.distributed._functional_collectives")
    return True


def stub_float8():
    # float8 dtypes (PyTorch 2.1+) named in default arguments and dtype tables at import time;
    # a placeholder object never equals a real tensor's dtype
    import torch
    added = False
    for name in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, name):
            setattr(torch, name, object())
            added = True
    return added


def stub_uint_dtypes():
    # torch.uint1 .. uint7 (PyTorch 2.3), listed unguarded in 0.32.0's torchao quantizer table
    # (0.32.1 guards it with a version check); placeholders, as for float8
    import torch
    added = False
    for k in range(1, 8):
        if not hasattr(torch, "uint%d" % k):
            setattr(torch, "uint%d" % k, object())
            added = True
    return added


def stub_nn_attention():
    # torch.nn.attention (PyTorch 2.2+): flex attention and SDPA backend selection, imported at
    # module level by some of diffusers' video transformers; the UNets run AttnProcessor here
    if not _missing("torch.nn.attention"):
        return False
    return _empty("torch.nn.attention")()


# name -> stand-in; each returns True when it installed something (it was missing)
STANDINS = {
    "packaging": stub_packaging,
    "tqdm": stub_tqdm,
    "huggingface_hub": stub_huggingface_hub,
    "httpx": stub_httpx,
    "safetensors": stub_safetensors,
    "requests": _empty("requests"),
    "filelock": _empty("filelock"),
    "PIL": _empty("PIL"),
    "regex": _empty("regex"),
    "imageio": _empty("imageio"),
    "dependency check": stub_dependency_check,
    "torch.xpu": _torch_backend("xpu"),
    "torch.mps": _torch_backend("mps"),
    "torch.distributed.device_mesh": stub_device_mesh,
    "torch.compiler": stub_compiler,
    "torch.distributed._functional_collectives": stub_functional_collectives,
    "torch.float8 dtypes": stub_float8,
    "torch.uint1-7 dtypes": stub_uint_dtypes,
    "torch.nn.attention": stub_nn_attention,
}

# what the checks import from diffusers (the import test of the probe below)
CLASSES = ("UNet2DModel", "UNet2DConditionModel", "DDPMScheduler", "DDIMScheduler", "DDPMPipeline")


def import_diffusers(src, skip=()):
    """Installs the stand-ins (all but `skip`) that this Python lacks and imports diffusers from
    src, the folder holding diffusers/. Exits with status 2 when src is not such a folder."""
    if not os.path.isfile(os.path.join(src, "diffusers", "__init__.py")):
        print("%s has no diffusers/__init__.py (pass diffusers' src folder)" % src, file=sys.stderr)
        sys.exit(2)
    for name, stub in STANDINS.items():
        if name not in skip and name not in STUBBED and stub():
            STUBBED.append(name)
    sys.path.insert(0, os.path.abspath(src))
    # 0.36's transformer_kandinsky decorates methods with torch.autocast(device_type="cuda") at import;
    # a CPU-only PyTorch warns that it disables it
    warnings.filterwarnings("ignore", message="User provided device_type of 'cuda', but CUDA is not available")
    import diffusers
    return diffusers


def _probe(src, skip):
    """Imports diffusers and CLASSES; returns (ok, version or error line)."""
    try:
        d = import_diffusers(src, skip)
        for c in CLASSES:
            getattr(d, c)
        return True, d.__version__
    except Exception as e:
        while e.__cause__ is not None:   # diffusers' lazy import raises RuntimeError(...) from the cause
            e = e.__cause__
        msg = str(e).strip()
        return False, "%s: %s" % (type(e).__name__, msg.splitlines()[0][:200] if msg else "")


def main():
    import argparse
    ap = argparse.ArgumentParser(description="import diffusers from a source tree with stand-ins")
    ap.add_argument("--diffusers-src", required=True, help="diffusers' src folder (contains diffusers/)")
    ap.add_argument("--skip", action="append", default=[], help="do not install this stand-in (repeatable)")
    ap.add_argument("--needed", action="store_true", help="for each stand-in in use: the error without it")
    ap.add_argument("--json", action="store_true", help="one JSON line: ok, version or error, stand-ins")
    args = ap.parse_args()
    ok, what = _probe(args.diffusers_src, args.skip)
    if args.json:
        print(json.dumps({"ok": ok, "result": what, "standins": STUBBED}))
        return 0 if ok else 1
    print("%s: %s; stand-ins in use: %s" % ("imports" if ok else "FAILS", what, ", ".join(STUBBED) or "none"))
    if args.needed:
        for name in STUBBED:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--diffusers-src", args.diffusers_src,
                                "--json", "--skip", name] + sum((["--skip", s] for s in args.skip), []),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
            lines = p.stdout.strip().splitlines()
            r = json.loads(lines[-1]) if lines else {"ok": False, "result": "exit %d, no output" % p.returncode}
            print("  without %-42s %s" % (name + ":", "imports (not needed)" if r["ok"] else r["result"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
