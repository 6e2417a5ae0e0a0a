#!/usr/bin/python3
"""Check that a model folder written by lethe loads in Hugging Face diffusers.

    /usr/bin/python3 tools/check_diffusers_load.py MODEL_DIR --diffusers-src /path/to/diffusers/src \
        [--lethe build/lethe] [--compare-npy EPS.npy] [--dump-inputs DIR] [--inputs DIR] \
        [--text-encoder DIR] [--compare-text-npy H.npy] [--compare-sample-npy X0.npy]

MODEL_DIR is a folder from `lethe train` / `lethe demo` (model_index.json, unet/, scheduler/),
or a text-to-image folder whose unet/config.json names UNet2DConditionModel (a pipeline folder
with text_encoder/ and tokenizer/, or a bare unet/ folder). --diffusers-src is the `src` folder
of a diffusers checkout (the folder that contains `diffusers/`); diffusers is imported from
there, not installed, with the stand-ins of tools/diffusers_compat.py for what this Python
lacks (listed on the first output line). Needs PyTorch and numpy.

Checks (each prints PASS/FAIL; the exit status is 1 if any fails, 2 on a usage error):

UNet2DModel folders (DDPMPipeline):
  layout     model_index.json names DDPMPipeline with unet = [diffusers, UNet2DModel] and
             scheduler = [diffusers, DDPMScheduler]; the subfolder configs agree.
  unet       UNet2DModel.from_pretrained(DIR, subfolder="unet", output_loading_info=True):
             missing_keys, unexpected_keys, mismatched_keys, error_msgs all empty; every
             config.json key is a UNet2DModel argument (or, on releases before 0.32 / 0.33,
             time_embedding_dim / mid_block_type at the value those releases hardcode); every
             loaded tensor equals the tensor in the file.
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
             repeats the sampling loop with diffusers' DDIMScheduler + the loaded UNet, with
             use_clipped_model_output=True (lethe's default DDIM step) and again with
             `--network-eps` against False (diffusers' default); the final images must agree
             within --sample-atol.

UNet2DConditionModel folders (text-to-image):
  layout     model_index.json (if any) lists unet = [diffusers, UNet2DConditionModel] and exactly
             the subfolders present, its scheduler / text_encoder entries name the classes of
             their configs; in a pipeline, unet cross_attention_dim = text_encoder hidden_size.
  unet-cond  UNet2DConditionModel.from_pretrained(DIR, subfolder="unet", output_loading_info=True):
             loading_info empty, config keys all arguments, every tensor equal to the file;
             forward on x, t, encoder_hidden_states (seeded: x = randn((2, in, S, S)), then
             context = randn((2, --seq, cross_attention_dim)), t = [10, 500]; or x.npy, t.npy,
             context.npy from --inputs DIR); --compare-npy, --dump-inputs as above. With
             --inputs DIR holding ddim.json + ddim_noise/context/null_context.npy: the guided
             DDIM loop ([cond; null] batch, eps_u + w (eps_c - eps_u)), --compare-sample-npy.
  scheduler  as above, when scheduler/ exists.
  text_encoder (text_encoder/ in the folder, or --text-encoder DIR): transformers'
             CLIPTextModel[WithProjection].from_pretrained when transformers imports, else
             tests/fixtures/clip_text_ref.py's re-implementation: missing / unexpected /
             mismatched keys empty, config keys all CLIPTextConfig keys, tensors equal to the
             file; last_hidden_state of ids.npy (--inputs) or of --prompt strings tokenized
             with lethe's word-level tokenizer (tokenizer/ beside it); --compare-text-npy.
  lethe-sample (with --lethe BIN, if `BIN sample` has --prompt) `BIN sample --prompt P --n 2`
             against the same guided DDIM here, P and "" encoded by the checked text encoder.

No diffusers code is copied.
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


# UNet2DModel arguments newer than some releases (time_embedding_dim: 0.32, mid_block_type: 0.33)
# that lethe writes; at these values an older release, which ignores the key, builds the same net
LATER_UNET2D_ARGS = {"time_embedding_dim": None, "mid_block_type": "UNetMidBlock2D"}


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


# ---------------------------------------------------------------------------------
# text-to-image folders: UNet2DConditionModel (+ text_encoder/, tokenizer/ of a pipeline)

TEXT_ENCODERS = ("CLIPTextModel", "CLIPTextModelWithProjection")


def unet_class(folder):
    try:
        return read_json(os.path.join(folder, "unet", "config.json")).get("_class_name")
    except (OSError, ValueError):
        return None


def check_cond_layout(R, folder, te_dir):
    """model_index.json (when there is one) against the subfolders; lethe's text-to-image pipeline
    names a class of its own (diffusers has no pixel-space CLIP-conditioned pipeline), so only the
    components are checked, not the pipeline class."""
    ucfg = read_json(os.path.join(folder, "unet", "config.json"))
    problems, parts = [], []
    if not os.path.isfile(os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors")):
        problems.append("no unet/diffusion_pytorch_model.safetensors")
    path = os.path.join(folder, "model_index.json")
    if os.path.isfile(path):
        idx = read_json(path)
        comps = sorted(k for k in idx if not k.startswith("_"))
        parts.append("%s(%s)" % (idx.get("_class_name"), ", ".join(comps)))
        if idx.get("unet") != ["diffusers", "UNet2DConditionModel"]:
            problems.append("unet %r" % idx.get("unet"))
        for c in comps:
            if not os.path.isdir(os.path.join(folder, c)):
                problems.append("%s listed, no %s/ folder" % (c, c))
        for c in ("unet", "scheduler", "text_encoder", "tokenizer"):
            if os.path.isdir(os.path.join(folder, c)) and c not in comps:
                problems.append("%s/ not listed" % c)
        if "scheduler" in comps and os.path.isdir(os.path.join(folder, "scheduler")):
            scfg = read_json(os.path.join(folder, "scheduler", "scheduler_config.json"))
            if idx["scheduler"] != ["diffusers", scfg.get("_class_name")]:
                problems.append("scheduler %r, scheduler_config.json %r" % (idx["scheduler"], scfg.get("_class_name")))
        if "text_encoder" in comps and os.path.isdir(os.path.join(folder, "text_encoder")):
            tcfg = read_json(os.path.join(folder, "text_encoder", "config.json"))
            arch = (tcfg.get("architectures") or [None])[0]
            if idx["text_encoder"] != ["transformers", arch] or arch not in TEXT_ENCODERS:
                problems.append("text_encoder %r, text_encoder/config.json architectures %r"
                                % (idx["text_encoder"], tcfg.get("architectures")))
    else:
        parts.append("no model_index.json (a bare unet/ folder)")
    if te_dir is not None:
        tcfg = read_json(os.path.join(te_dir, "config.json"))
        if not os.path.isfile(os.path.join(te_dir, "model.safetensors")):
            problems.append("no %s/model.safetensors" % te_dir)
        if te_dir == os.path.join(folder, "text_encoder"):   # a pipeline: the UNet reads this encoder's rows
            if tcfg.get("hidden_size") != ucfg.get("cross_attention_dim"):
                problems.append("text_encoder hidden_size %r != unet cross_attention_dim %r"
                                % (tcfg.get("hidden_size"), ucfg.get("cross_attention_dim")))
            else:
                parts.append("cross_attention_dim %d = text_encoder hidden_size" % tcfg["hidden_size"])
    R.check("layout", not problems, "; ".join(problems) or "; ".join(parts) + "; weights in safetensors")
    return ucfg


def same_as_file(torch, model, path):
    """(names of tensors that differ from the safetensors file, file tensor count, dtypes)."""
    import safetensors.torch
    file_sd = safetensors.torch.load_file(path)
    sd = model.state_dict()
    diff = [k for k in sd if k not in file_sd or file_sd[k].shape != sd[k].shape
            or not torch.equal(file_sd[k].to(sd[k].dtype), sd[k])]
    diff += [k for k in file_sd if k not in sd]
    return diff, len(file_sd), sorted({str(v.dtype).replace("torch.", "") for v in file_sd.values()})


def check_same_as_file(R, name, torch, model, path):
    """R.check that the model's state_dict equals the safetensors file, tensor by tensor."""
    diff, n_file, dts = same_as_file(torch, model, path)
    R.check(name, not diff, ("differ from the file: %s" % diff[:5]) if diff else
            "%d tensors (%s) equal to the file" % (n_file, "/".join(dts)))


def load_npy_inputs(np, d, names):
    return {n: np.load(os.path.join(d, n + ".npy")) for n in names if os.path.isfile(os.path.join(d, n + ".npy"))}


def compare(R, np, name, path, got, atol):
    ref = np.load(path).astype(np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        return R.check(name, False, "%s has shape %s, ours %s" % (path, ref.shape, got.shape))
    d = float(np.abs(ref - got).max())
    return R.check(name, d <= atol,
                   "max |%s - the loaded model's| = %.3g (atol %g)" % (os.path.basename(path), d, atol))


def check_unet_cond(R, args, folder, ucfg, torch, np, UNet2DConditionModel):
    unet = None
    try:
        unet, info = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", output_loading_info=True)
        unet.eval()
        keys = ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
        bad = {k: info.get(k) for k in keys if info.get(k)}
        R.check("unet-cond loading_info", not bad and all(k in info for k in keys),
                "; ".join("%s=%s" % kv for kv in bad.items()) or
                "UNet2DConditionModel: missing_keys, unexpected_keys, mismatched_keys, error_msgs all empty "
                "(%d tensors, %d parameters)" % (len(unet.state_dict()), sum(p.numel() for p in unet.parameters())))
        _, unused, _ = UNet2DConditionModel.extract_init_dict(dict(ucfg))
        unused = sorted(k for k in unused if not k.startswith("_"))
        R.check("unet-cond config keys", not unused,
                ("not UNet2DConditionModel arguments (ignored by diffusers): %s" % unused) if unused else
                "all %d keys of unet/config.json are UNet2DConditionModel arguments"
                % len([k for k in ucfg if not k.startswith("_")]))
        check_same_as_file(R, "unet-cond weights", torch, unet,
                           os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors"))
    except Exception as e:
        R.error("unet-cond loading_info", e)
        return None

    # forward on fixed inputs: x, t, encoder_hidden_states (from --inputs DIR, else seeded)
    try:
        cfg = unet.config
        given = load_npy_inputs(np, args.inputs, ("x", "t", "context")) if args.inputs else {}
        if given and len(given) != 3:
            raise ValueError("--inputs %s needs x.npy, t.npy and context.npy (has %s)" % (args.inputs, sorted(given)))
        if given:
            x = torch.from_numpy(given["x"].astype(np.float32))
            t = torch.from_numpy(given["t"]).reshape(-1)
            ctx = torch.from_numpy(given["context"].astype(np.float32))
            what = "x, t, context from %s" % args.inputs
        else:
            s = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
            g = torch.Generator().manual_seed(args.seed)
            x = torch.randn((2, cfg.in_channels, s, s), generator=g, dtype=torch.float32)
            ctx = torch.randn((2, args.seq, cfg.cross_attention_dim), generator=g, dtype=torch.float32)
            t = torch.tensor([10, 500], dtype=torch.long)
            what = "x = randn(%s), then context = randn(%s) from seed %d" % (
                tuple(x.shape), tuple(ctx.shape), args.seed)
        with torch.no_grad():
            eps = unet(x, t, encoder_hidden_states=ctx).sample
        ok = tuple(eps.shape) == (x.shape[0], cfg.out_channels) + tuple(x.shape[2:]) and bool(torch.isfinite(eps).all())
        R.check("unet-cond forward", ok, "%s, t %s -> eps %s, max |eps| %.6f" % (
            what, t.tolist(), tuple(eps.shape), eps.abs().max().item()))
        if args.dump_inputs:
            os.makedirs(args.dump_inputs, exist_ok=True)
            for n, v in (("x", x), ("t", t), ("context", ctx), ("eps", eps)):
                np.save(os.path.join(args.dump_inputs, n + ".npy"), v.numpy())
            print("wrote x.npy, t.npy, context.npy, eps.npy (diffusers) to %s" % args.dump_inputs)
        if args.compare_npy:
            compare(R, np, "unet-cond compare-npy", args.compare_npy, eps.numpy(), args.atol)
    except Exception as e:
        R.error("unet-cond forward", e)
    return unet


def word_tokenize(tok_dir, prompts, bos, eos):
    """lethe's word-level tokenizer (tokenizer/tokenizer_config.json's lethe_note): lower-case,
    split at whitespace, ASCII punctuation stripped from both ends of each word; BOS, the words,
    EOS, then the pad token up to model_max_length."""
    import string
    vocab = read_json(os.path.join(tok_dir, "vocab.json"))
    tc = read_json(os.path.join(tok_dir, "tokenizer_config.json"))
    n = tc["model_max_length"]
    pad = vocab.get(tc.get("pad_token"), eos)
    rows = []
    for p in prompts:
        words = [w.strip(string.punctuation) for w in p.lower().split()]
        ids = [bos] + [vocab[w] for w in words if w] + [eos]
        if len(ids) > n:
            raise ValueError("prompt %r: %d tokens, model_max_length %d" % (p, len(ids), n))
        rows.append(ids + [pad] * (n - len(ids)))
    return rows


def check_text_encoder(R, args, te_dir, torch, np):
    """text_encoder/ in transformers' CLIPTextModel[WithProjection] when transformers imports,
    else in tests/fixtures/clip_text_ref.py's re-implementation. Returns encode(prompts) ->
    last_hidden_state when the folder beside it has lethe's word-level tokenizer, else None."""
    cfg = read_json(os.path.join(te_dir, "config.json"))
    arch = (cfg.get("architectures") or ["CLIPTextModel"])[0]
    try:
        try:
            import transformers
            impl = "transformers %s %s" % (transformers.__version__, arch)
        except ImportError:
            transformers = None
            impl = "clip_text_ref.CLIPText (tests/fixtures; transformers is not installed)"
        if transformers is not None:
            model, info = getattr(transformers, arch).from_pretrained(te_dir, output_loading_info=True)
            known = set(transformers.CLIPTextConfig().to_dict()) | {"architectures", "transformers_version"}
            run = lambda ids: model(input_ids=ids).last_hidden_state   # noqa: E731
        else:
            sys.path.insert(0, os.path.abspath(FIXTURES))
            import clip_text_ref
            import safetensors.torch
            known = set(clip_text_ref.DEFAULTS) | {"architectures", "model_type", "torch_dtype", "transformers_version"}
            model = clip_text_ref.CLIPText(clip_text_ref.make_config(
                {k: v for k, v in cfg.items() if k in clip_text_ref.DEFAULTS}, arch == "CLIPTextModelWithProjection"))
            file_sd = safetensors.torch.load_file(os.path.join(te_dir, "model.safetensors"))
            sd = model.state_dict()
            info = {"missing_keys": sorted(set(sd) - set(file_sd)),
                    "unexpected_keys": sorted(set(file_sd) - set(sd)),
                    "mismatched_keys": sorted(k for k in set(sd) & set(file_sd) if sd[k].shape != file_sd[k].shape)}
            model.load_state_dict({k: v for k, v in file_sd.items() if k in sd and k not in info["mismatched_keys"]},
                                  strict=False)
            run = lambda ids: model(ids)[0]   # noqa: E731
        model.eval()
        keys = ("missing_keys", "unexpected_keys", "mismatched_keys")
        bad = {k: info.get(k) for k in keys if info.get(k)}
        R.check("text_encoder loading", not bad, "; ".join("%s=%s" % kv for kv in bad.items()) or
                "%s: missing_keys, unexpected_keys, mismatched_keys all empty (%d tensors)"
                % (impl, len(model.state_dict())))
        unknown = sorted(k for k in cfg if k not in known and not k.startswith("_"))
        R.check("text_encoder config keys", not unknown, ("not CLIPTextConfig keys: %s" % unknown) if unknown else
                "all %d keys of config.json are CLIPTextConfig keys" % len(cfg))
        check_same_as_file(R, "text_encoder weights", torch, model, os.path.join(te_dir, "model.safetensors"))
    except Exception as e:
        R.error("text_encoder loading", e)
        return None

    try:
        given = load_npy_inputs(np, args.inputs, ("ids",)) if args.inputs else {}
        tok_dir = os.path.join(os.path.dirname(te_dir), "tokenizer")
        bos, eos, n = cfg["bos_token_id"], cfg["eos_token_id"], cfg["max_position_embeddings"]
        if given:
            ids = given["ids"].astype(np.int64)
            what = "ids from %s" % args.inputs
        elif os.path.isfile(os.path.join(tok_dir, "tokenizer_config.json")):
            tc = read_json(os.path.join(tok_dir, "tokenizer_config.json"))
            if tc.get("tokenizer_class") != "lethe-word-level":
                raise ValueError("tokenizer_class %r: only lethe's word-level tokenizer is read here (or pass ids.npy "
                                 "with --inputs)" % tc.get("tokenizer_class"))
            prompts = args.prompt or [" ".join(list(read_json(os.path.join(tok_dir, "vocab.json")))[:3]), ""]
            ids = np.array(word_tokenize(tok_dir, prompts, bos, eos), dtype=np.int64)
            what = "prompts %s (lethe's word-level tokenizer)" % prompts
        else:   # no tokenizer: BOS, the first three ids, EOS, padding; and the empty prompt
            ids = np.array([[bos, 0, 1, 2, eos] + [eos] * (n - 5), [bos, eos] + [eos] * (n - 2)], dtype=np.int64)
            what = "ids %s" % ids.tolist()
        with torch.no_grad():
            last = run(torch.from_numpy(ids))
        R.check("text_encoder forward", bool(torch.isfinite(last).all()), "%s -> last_hidden_state %s, max |h| %.6f"
                % (what, tuple(last.shape), last.abs().max().item()))
        if args.dump_inputs:
            os.makedirs(args.dump_inputs, exist_ok=True)
            np.save(os.path.join(args.dump_inputs, "ids.npy"), ids)
            np.save(os.path.join(args.dump_inputs, "last_hidden_state.npy"), last.numpy())
            print("wrote ids.npy, last_hidden_state.npy (text encoder) to %s" % args.dump_inputs)
        if args.compare_text_npy:
            compare(R, np, "text_encoder compare-text-npy", args.compare_text_npy, last.numpy(), args.atol)
    except Exception as e:
        R.error("text_encoder forward", e)
        return None
    tc_path = os.path.join(tok_dir, "tokenizer_config.json")
    if not os.path.isfile(tc_path) or read_json(tc_path).get("tokenizer_class") != "lethe-word-level":
        return None

    def encode(prompts):
        with torch.no_grad():
            return run(torch.from_numpy(np.array(word_tokenize(tok_dir, prompts, bos, eos), dtype=np.int64)))
    return encode


def ddim_text(torch, unet, sched, x, ctx, null, guidance, clipped):
    """DDIM, eta 0, classifier-free guidance on text hidden states: one batch [cond; null] per
    step, eps = eps_u + w (eps_c - eps_u); sched has its timesteps set."""
    m = x.shape[0]
    both = torch.cat([ctx, null.expand(m, -1, -1)])
    with torch.no_grad():
        for ts in sched.timesteps:
            tt = torch.full((2 * m,), int(ts), dtype=torch.long)
            e = unet(torch.cat([x, x]), tt, encoder_hidden_states=both).sample
            e = e[m:] + guidance * (e[:m] - e[m:])
            x = sched.step(e, ts, x, eta=0.0, use_clipped_model_output=clipped).prev_sample
    return x


def check_cond_ddim(R, args, unet, ddpm, torch, np, DDIMScheduler):
    """--inputs DIR with ddim.json, ddim_noise.npy, ddim_context.npy, ddim_null_context.npy: the
    guided DDIM loop from given noise and hidden states, compared with --compare-sample-npy."""
    spec = read_json(os.path.join(args.inputs, "ddim.json"))
    a = load_npy_inputs(np, args.inputs, ("ddim_noise", "ddim_context", "ddim_null_context"))
    sched = DDIMScheduler.from_config(ddpm.config)
    sched.set_timesteps(spec["steps"])
    x = ddim_text(torch, unet, sched, torch.from_numpy(a["ddim_noise"].astype(np.float32)),
                  torch.from_numpy(a["ddim_context"].astype(np.float32)),
                  torch.from_numpy(a["ddim_null_context"].astype(np.float32)).reshape(1, *a["ddim_context"].shape[1:]),
                  spec["guidance"], spec["use_clipped_model_output"])
    R.check("unet-cond ddim", bool(torch.isfinite(x).all()), "DDIMScheduler %d steps, eta 0, guidance %g, "
            "use_clipped_model_output=%s from %s/ddim_*.npy -> %s" % (spec["steps"], spec["guidance"],
                                                                       spec["use_clipped_model_output"], args.inputs,
                                                                       tuple(x.shape)))
    if args.compare_sample_npy:
        compare(R, np, "unet-cond compare-sample-npy", args.compare_sample_npy, x.numpy(), args.sample_atol)


def lethe_samples_prompts(lethe):
    p = subprocess.run([lethe, "sample", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return "--prompt " in p.stdout


def check_lethe_sample_text(R, args, folder, unet, ddpm, encode, torch, np, DDIMScheduler):
    """`lethe sample --prompt P --n 2` (DDIM, eta 0, guidance 2) from seeded noise against the same
    loop here: P's and the empty prompt's hidden states from the checked text encoder."""
    prompt = (args.prompt or ["a"])[0]
    cfg = unet.config
    s = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
    x = torch.randn((2, cfg.in_channels, s, s), generator=torch.Generator().manual_seed(args.seed))
    guidance = 2.0
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x.numpy().astype(np.float32))
        cmd = [args.lethe, "sample", "--model", folder, "--prompt", prompt, "--n", "2", "--sampler", "ddim",
               "--steps", str(args.sample_steps), "--eta", "0", "--guidance", str(guidance),
               "--noise", os.path.join(tmp, "x.npy"), "--npy", os.path.join(tmp, "out.npy"),
               "--out", os.path.join(tmp, "grid.png"), "--threads", str(max(1, args.threads))]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode != 0:
            raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stdout.strip()[-400:]))
        lethe_out = np.load(os.path.join(tmp, "out.npy")).astype(np.float64)
    sched = DDIMScheduler.from_config(ddpm.config)
    sched.set_timesteps(args.sample_steps)
    h = encode([prompt, ""])
    xs = ddim_text(torch, unet, sched, x, h[:1].expand(2, -1, -1), h[1:], guidance, True)
    d = float(np.abs(lethe_out - xs.numpy().astype(np.float64)).max()) if lethe_out.shape == tuple(xs.shape) else None
    R.check("lethe-sample", d is not None and d <= args.sample_atol,
            "DDIM %d steps, eta 0, guidance %g, prompt %r, use_clipped_model_output=True: %s" % (
                args.sample_steps, guidance, prompt,
                "lethe gave %s, expected %s" % (lethe_out.shape, tuple(xs.shape)) if d is None else
                "max |x_lethe - x_diffusers| = %.3g (atol %g)" % (d, args.sample_atol)))


def check_cond_folder(R, args, folder, torch, np, diffusers):
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
    te_dir = os.path.abspath(args.text_encoder) if args.text_encoder else None
    if te_dir and os.path.isdir(os.path.join(te_dir, "text_encoder")):
        te_dir = os.path.join(te_dir, "text_encoder")
    if te_dir is None and os.path.isdir(os.path.join(folder, "text_encoder")):
        te_dir = os.path.join(folder, "text_encoder")
    try:
        ucfg = check_cond_layout(R, folder, te_dir)
    except Exception as e:
        R.error("layout", e)
        ucfg = {}
    unet = check_unet_cond(R, args, folder, ucfg, torch, np, UNet2DConditionModel)
    ddpm = None
    if os.path.isdir(os.path.join(folder, "scheduler")):
        ddpm = check_scheduler(R, folder, DDPMScheduler, DDIMScheduler)
    encode = check_text_encoder(R, args, te_dir, torch, np) if te_dir is not None else None
    if unet is not None and ddpm is not None and args.inputs and os.path.isfile(os.path.join(args.inputs, "ddim.json")):
        try:
            check_cond_ddim(R, args, unet, ddpm, torch, np, DDIMScheduler)
        except Exception as e:
            R.error("unet-cond ddim", e)
    if args.lethe:
        if unet is None or ddpm is None or encode is None:
            print("lethe-sample: not run (needs the UNet, scheduler/, and text_encoder/ with lethe's tokenizer)")
        elif not lethe_samples_prompts(args.lethe):
            print("lethe-sample: not run (%s sample has no --prompt)" % args.lethe)
        else:
            try:
                check_lethe_sample_text(R, args, folder, unet, ddpm, encode, torch, np, DDIMScheduler)
            except Exception as e:
                R.error("lethe-sample", e)


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
    ap.add_argument("--inputs", metavar="DIR", help="UNet2DConditionModel / text encoder: read x.npy, t.npy, "
                    "context.npy (and ids.npy) here instead of the seeded inputs")
    ap.add_argument("--seq", type=int, default=8, help="UNet2DConditionModel: rows of the seeded context (default 8)")
    ap.add_argument("--text-encoder", metavar="DIR", help="a text_encoder/ folder (or a folder holding one) to check "
                    "when MODEL_DIR has none")
    ap.add_argument("--prompt", action="append", help="text encoder: a prompt for lethe's word-level tokenizer "
                    "(repeatable; default: the vocabulary's first three words, and the empty prompt)")
    ap.add_argument("--compare-text-npy", metavar="H.npy", help="text encoder: last_hidden_state computed by lethe "
                    "on the same ids (tolerance --atol)")
    ap.add_argument("--compare-sample-npy", metavar="X0.npy", help="UNet2DConditionModel: the final images of the "
                    "guided DDIM given by --inputs DIR/ddim.json (tolerance --sample-atol)")
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
    if unet_class(folder) == "UNet2DConditionModel":
        check_cond_folder(R, args, folder, torch, np, diffusers)
        return summary(R)

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
        later = [k for k in unused if k in LATER_UNET2D_ARGS and ucfg[k] == LATER_UNET2D_ARGS[k]]
        unused = [k for k in unused if k not in later]
        R.check("unet config keys", not unused,
                ("not UNet2DModel arguments (ignored by diffusers): %s" % unused) if unused else
                "all %d keys of unet/config.json are UNet2DModel arguments%s"
                % (len([k for k in ucfg if not k.startswith("_")]) - len(later),
                   "; %s: arguments of later releases, at the value this release hardcodes" % later if later else ""))
        check_same_as_file(R, "unet weights", torch, unet, os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors"))
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
        for name, extra, clipped in (("lethe-sample", [], True),
                                     ("lethe-sample --network-eps", ["--network-eps"], False)):
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

    return summary(R)


def summary(R):
    failed = R.failed
    print("%s: %d/%d checks passed%s" % ("PASS" if not failed else "FAIL", len(R.rows) - len(failed), len(R.rows),
                                         "" if not failed else " (failed: %s)" % ", ".join(r[0] for r in failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
