"""Greedy and beam search over a step function, for any autoregressive model.

A step function `(prev_tokens (N,), states, rows (N,)) -> (log_probs (N, V),
attention (N, Ts) or None, states)` hides the model: a seq2seq RNN
(`kerasdl.generation.seq2seq.Seq2SeqDecoder.step_fn`), a transformer
decoder with a cache, or a table in a test all decode with the same
`greedy_search` and `beam_search_fn`. Results come back as `DecodeResult`.
The searches run in NumPy; only the step function touches the model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerasdl._checks import check_float, check_int

__all__ = ["DecodeResult", "beam_search_fn", "greedy_search", "log_softmax"]


@dataclasses.dataclass(frozen=True, eq=False)
class DecodeResult:
    """Decoded sequences.

    Attributes:
        tokens: np.ndarray int32 (B, L). Output ids, end token included, then
            zeros (padding).
        lengths: np.ndarray int32 (B,). Tokens per row, end token included.
        log_probs: np.ndarray float32 (B,). Sum of the log-probabilities of
            the tokens (end token included) under the model.
        scores: np.ndarray float32 (B,). The score used to rank hypotheses:
            log_probs divided by the length penalty (equals log_probs for
            greedy decoding and length_penalty=0).
        attention: np.ndarray float32 (B, L, Ts) or None. Attention weights
            of each output step over the source (rows of padded steps are
            0); None for a model without attention.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray
    scores: np.ndarray
    attention: np.ndarray | None

    def attention_matrix(self, index: int = 0, source_length: int | None = None):
        """(target x source) attention of one example, padded steps dropped."""
        if self.attention is None:
            raise ValueError("This model has no attention (attention=None).")
        matrix = self.attention[index, : self.lengths[index]]
        return matrix if source_length is None else matrix[:, :source_length]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, in float64 (NumPy)."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check_decode_args(start_id, end_id, max_length):
    check_int("start_id", start_id, minimum=0)
    check_int("end_id", end_id, minimum=0)
    check_int("max_length", max_length, minimum=1)


def _finish(tokens, attention, log_probs, scores, lengths, has_attention):
    return DecodeResult(
        tokens=np.asarray(tokens, np.int32),
        lengths=np.asarray(lengths, np.int32),
        log_probs=np.asarray(log_probs, np.float32),
        scores=np.asarray(scores, np.float32),
        attention=np.asarray(attention, np.float32) if has_attention else None,
    )


def greedy_search(step_fn, states, batch: int, start_id, end_id, max_length):
    """Greedy decoding driven by a step function (e.g. `Seq2SeqDecoder.step_fn`).

    Args:
        step_fn: callable (prev (N,), states, rows (N,)) -> (log_probs (N, V),
            attention (N, Ts) or None, states).
        states: list of np.ndarray (batch, ...). Initial decoder state.
        batch: int. Number of sequences.
        start_id: int. First decoder input.
        end_id: int. Token that ends a sequence.
        max_length: int. Longest output (end token included).

    Returns:
        `DecodeResult`.
    """
    _check_decode_args(start_id, end_id, max_length)
    rows = np.arange(batch)
    prev = np.full(batch, start_id, np.int64)
    tokens = np.zeros((batch, max_length), np.int64)
    log_probs = np.zeros(batch)
    lengths = np.full(batch, max_length)
    done = np.zeros(batch, bool)
    attention_steps = []
    for t in range(max_length):
        step_log_probs, weights, states = step_fn(prev, states, rows)
        token = step_log_probs.argmax(axis=-1)
        token = np.where(done, 0, token)
        log_probs += np.where(done, 0.0, step_log_probs[rows, token])
        tokens[:, t] = token
        if weights is not None:
            attention_steps.append(np.where(done[:, None], 0.0, weights))
        newly = ~done & (token == end_id)
        lengths[newly] = t + 1
        done |= newly
        prev = np.where(done, end_id, token)
        if done.all():
            break
    length = int(lengths.max())
    attention = np.stack(attention_steps, 1)[:, :length] if attention_steps else None
    return _finish(
        tokens[:, :length],
        attention,
        log_probs,
        log_probs,
        lengths,
        attention is not None,
    )


def _penalty(length, alpha: float):
    # GNMT's length penalty (Wu et al. 2016): ((5 + |Y|) / 6) ** alpha.
    return ((5.0 + length) / 6.0) ** alpha


def beam_search_fn(
    step_fn,
    states,
    batch: int,
    start_id,
    end_id,
    max_length,
    beam_width=4,
    length_penalty=0.0,
):
    """Beam search driven by a step function (see `greedy_search`).

    Each step expands every live hypothesis by every token and keeps the
    2K best candidates: those ending with `end_id` among the top K join the
    finished pool, the K best others stay live. Hypotheses are ranked by
    log-probability / ((5 + length) / 6) ** length_penalty. The search stops
    when no live hypothesis can still beat the K-th finished one, or at
    `max_length` (live hypotheses then count as finished).

    Args:
        step_fn: callable (prev (N,), states, rows (N,)) -> (log_probs (N, V),
            attention (N, Ts) or None, states).
        states: list of np.ndarray (batch, ...). Initial decoder state.
        batch: int. Number of source sequences.
        start_id: int. First decoder input.
        end_id: int. Token that ends a sequence.
        max_length: int. Longest output (end token included).
        beam_width: int. Hypotheses kept per sequence (1 is greedy decoding).
        length_penalty: float. GNMT alpha >= 0; 0 ranks by raw log-probability,
            larger values favour longer outputs.

    Returns:
        `DecodeResult` holding the best hypothesis of each sequence.
    """
    _check_decode_args(start_id, end_id, max_length)
    k = check_int("beam_width", beam_width, minimum=1)
    alpha = check_float("length_penalty", length_penalty, minimum=0.0)
    rows = np.repeat(np.arange(batch), k)  # (B*K,) source row of each beam
    states = [np.repeat(s, k, axis=0) for s in states]
    scores = np.tile(np.r_[0.0, np.full(k - 1, -np.inf)], batch)  # (B*K,)
    prev = np.full(batch * k, start_id, np.int64)
    history = np.zeros((batch * k, 0), np.int64)
    attn_history = None
    finished: list[list[tuple]] = [[] for _ in range(batch)]  # (score, lp, toks, attn)

    for t in range(max_length):
        log_probs, weights, new_states = step_fn(prev, states, rows)
        vocab = log_probs.shape[-1]
        if weights is not None:
            step_attn = weights[:, None, :]
            attn_history = (
                step_attn
                if attn_history is None
                else np.concatenate([attn_history, step_attn], 1)
            )
        candidates = (scores[:, None] + log_probs).reshape(batch, k * vocab)
        order = np.argsort(-candidates, axis=1, kind="stable")[:, : 2 * k]
        keep_beams = np.zeros((batch, k), np.int64)
        keep_tokens = np.zeros((batch, k), np.int64)
        keep_scores = np.full((batch, k), -np.inf)
        for b in range(batch):
            live = 0
            for rank, flat in enumerate(order[b]):
                score = candidates[b, flat]
                if not np.isfinite(score):
                    break
                beam, token = divmod(int(flat), vocab)
                source = b * k + beam
                if token == end_id:
                    if rank < k:
                        seq = np.r_[history[source], token]
                        attn = None if attn_history is None else attn_history[source]
                        finished[b].append(
                            (score / _penalty(t + 1, alpha), score, seq, attn)
                        )
                    continue
                if live < k:
                    keep_beams[b, live], keep_tokens[b, live] = source, token
                    keep_scores[b, live] = score
                    live += 1
                if live == k:
                    break
        index = keep_beams.reshape(-1)
        scores = keep_scores.reshape(-1)
        prev = keep_tokens.reshape(-1)
        history = np.concatenate([history[index], prev[:, None]], 1)
        states = [s[index] for s in new_states]
        if attn_history is not None:
            attn_history = attn_history[index]
        if _all_done(finished, scores.reshape(batch, k), k, t + 1, max_length, alpha):
            break
    else:
        # Out of steps: live hypotheses count as finished (no end token).
        for b in range(batch):
            for j in range(k):
                score = scores[b * k + j]
                if np.isfinite(score):
                    attn = None if attn_history is None else attn_history[b * k + j]
                    finished[b].append(
                        (
                            score / _penalty(max_length, alpha),
                            score,
                            history[b * k + j],
                            attn,
                        )
                    )

    best = [max(pool, key=lambda h: h[0]) for pool in finished]
    lengths = [len(h[2]) for h in best]
    length = max(lengths)
    tokens = np.zeros((batch, length), np.int64)
    has_attention = best[0][3] is not None
    attention = (
        np.zeros((batch, length, best[0][3].shape[-1])) if has_attention else None
    )
    for b, hyp in enumerate(best):
        tokens[b, : len(hyp[2])] = hyp[2]
        if has_attention:
            attention[b, : len(hyp[2])] = hyp[3][: len(hyp[2])]
    return _finish(
        tokens,
        attention,
        [h[1] for h in best],
        [h[0] for h in best],
        lengths,
        has_attention,
    )


def _all_done(finished, live_scores, k, length, max_length, alpha) -> bool:
    for pool, live in zip(finished, live_scores):
        best_live = live.max()
        if not np.isfinite(best_live):
            continue  # no live hypothesis left for this row
        if len(pool) < k:
            return False
        kth = sorted((h[0] for h in pool), reverse=True)[k - 1]
        # Log-probabilities only fall as a hypothesis grows; with alpha > 0 the
        # best normalized score it can still reach uses the longest length.
        bound = best_live / _penalty(max_length if alpha > 0 else length, alpha)
        if bound > kth:
            return False
    return True
