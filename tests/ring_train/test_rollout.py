"""Rollout sampling: the lean layer-by-layer decode path computes what the model's own forward
computes, and the sampler draws tokens with the softmax's probabilities."""

import torch

import ring_train.rollout as rollout


def test_lean_decode_matches_the_models_forward(policy, monkeypatch):
    model, tok = policy
    assert rollout.lean_decoder(model) is not None
    prompts = [tok.encode("What is 12 + 34?"), tok.encode("abc"), tok.encode("Compute 7 * 8. It")]
    kw = dict(max_new_tokens=16, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, temperature=0.0)
    lean = rollout.sample(model, prompts, 3, **kw)
    monkeypatch.setattr(rollout, "lean_decoder", lambda m: None)
    reference = rollout.sample(model, prompts, 3, **kw)
    assert lean.responses == reference.responses and lean.finished == reference.finished
    # and the logits themselves: the greedy continuation of one prompt, step by step
    seq = prompts[0] + lean.responses[0]
    with torch.no_grad():
        full = model(input_ids=torch.tensor([seq])).logits[0]
    monkeypatch.undo()
    captured = []
    real_pick = rollout._pick
    monkeypatch.setattr(
        rollout, "_pick", lambda logits, *a: captured.append(logits[0].clone()) or real_pick(logits, *a)
    )
    rollout.sample(model, prompts[:1], 1, **kw)
    for step, logits in enumerate(captured):
        assert torch.allclose(logits, full[len(prompts[0]) - 1 + step], atol=1e-4)


def test_sampler_draws_with_the_softmax_probabilities():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().expand(20000, 4)
    draws = rollout._pick(logits, 1.0, 1.0, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    assert torch.allclose(freq, probs, atol=0.015)
    top = rollout._pick(logits, 1.0, 0.6, torch.Generator().manual_seed(0))  # nucleus: the top two only
    assert set(top.tolist()) == {0, 1}


def test_sampling_and_training_forwards_pass_the_current_cache_argument(policy, monkeypatch):
    """transformers 5.2x renamed the KV-cache argument to ``cache`` and warns on every call that still
    says ``past_key_values``; the sampler (lean and generic paths) and the training forward use the name
    the installed version takes, so a run's console stays free of those warnings."""
    import warnings

    import transformers.utils.generic as hf_generic

    from ring_train.forward import run_responses

    model, tok = policy
    logged = []
    monkeypatch.setattr(hf_generic.logger, "warning_once", lambda msg, *a, **k: logged.append(msg))
    prompts = [tok.encode("What is 12 + 34?"), tok.encode("abc")]
    kw = dict(max_new_tokens=6, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, temperature=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a FutureWarning would raise here
        ro = rollout.sample(model, prompts, 2, generator=torch.Generator().manual_seed(0), **kw)
        monkeypatch.setattr(rollout, "lean_decoder", lambda m: None)
        rollout.sample(model, prompts, 2, generator=torch.Generator().manual_seed(0), **kw)
        keep = [len(r) for r in ro.responses]
        run_responses(model, ro.prompt_ids, ro.responses, ro.group, keep, pad_id=tok.pad_token_id)
    assert not [m for m in logged if "past_key_values" in m]
