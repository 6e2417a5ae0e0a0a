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
import json
import os
import subprocess
import sys
import tempfile
import traceback
import warnings

import diffusers_compat

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")   # clip_text_ref.py: CLIPTextModel without transformers

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


def check_scheduler(R, folder, DDPMScheduler, DDIMScheduler):
    """scheduler/: DDPMScheduler with no unused keys, and a DDIMScheduler made from its config."""
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
    return ddpm


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
    diffusers = diffusers_compat.import_diffusers(args.diffusers_src)
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    try:
        from diffusers import DDPMPipeline
    except Exception as e:   # keep the model / scheduler checks; the pipeline check reports this
        DDPMPipeline, pipeline_import_error = None, e
    diffusers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    print("diffusers %s from %s; torch %s; stand-ins: %s" % (
        diffusers.__version__, os.path.dirname(diffusers.__file__), torch.__version__,
        ", ".join(diffusers_compat.STUBBED) or "none"))
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

    ddpm = check_scheduler(R, folder, DDPMScheduler, DDIMScheduler)

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
    # lethe's DDIM steps along the eps re-derived from the clipped x0 by default, which is
    # diffusers' use_clipped_model_output=True; --network-eps is diffusers' default (False)
    if args.lethe and unet is not None and ddpm is not None:
        for name, extra, clipped in (("lethe-sample", [], True), ("lethe-sample --network-eps", ["--network-eps"], False)):
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
                           "--threads", str(max(1, args.threads))] + extra
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
                        xs = sched.step(e, ts, xs, eta=0.0, use_clipped_model_output=clipped).prev_sample
                d = float(np.abs(lethe_out - xs.numpy().astype(np.float64)).max())
                R.check(name, lethe_out.shape == tuple(xs.shape) and d <= args.sample_atol,
                        "DDIM %d steps, eta 0, guidance %g%s, use_clipped_model_output=%s: "
                        "max |x_lethe - x_diffusers| = %.3g (atol %g)" % (
                            args.sample_steps, guidance, (", classes %s" % classes) if cond else "", clipped, d,
                            args.sample_atol))
            except Exception as e:
                R.error(name, e)

    failed = R.failed
    print("%s: %d/%d checks passed%s" % ("PASS" if not failed else "FAIL", len(R.rows) - len(failed), len(R.rows),
                                         "" if not failed else " (failed: %s)" % ", ".join(r[0] for r in failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
