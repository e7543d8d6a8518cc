"""A small BAL-PM loop with your own reward ensemble in torch, acquisitions from activepref.

    pip install ./python torch        # torch is only needed by this example
    python python/examples/balpm_torch_loop.py

The "pool" is synthetic: 2,000 comparisons over 400 prompts with 16-d prompt and response
features and a hidden reward; labels are drawn from the Bradley–Terry model of that reward. Each
round trains 5 small MLP reward models from scratch on the labelled comparisons, scores every
unlabelled comparison with each member (rewards of both responses), and lets activepref pick the
next 50 with BAL-PM (BALD plus the kNN entropy bonus of the prompts), against random picks. It
prints the test log-likelihood of both after every round. It is a toy that shows the calls (on it,
BAL-PM does not beat random); the paper's comparison is `activepref run experiments/...`.
"""

import numpy as np
import torch

import activepref as ap

rng = np.random.default_rng(0)
PROMPTS, PER_PROMPT, D = 400, 5, 16
N = PROMPTS * PER_PROMPT
prompt_table = rng.normal(size=(PROMPTS, D)).astype(np.float32)
prompt_id = np.repeat(np.arange(PROMPTS), PER_PROMPT)
prompt = prompt_table[prompt_id]
resp_a = rng.normal(size=(N, D)).astype(np.float32)
resp_b = rng.normal(size=(N, D)).astype(np.float32)
v = rng.normal(size=D).astype(np.float32)


def hidden_reward(p, r):
    return (p * r) @ v / 2.0  # how well the response matches what the prompt asks for


p_a = 1 / (1 + np.exp(-(hidden_reward(prompt, resp_a) - hidden_reward(prompt, resp_b))))
a_preferred = rng.random(N) < p_a
x_a = torch.tensor(prompt * resp_a)  # the reward model's joint (prompt, response) features
x_b = torch.tensor(prompt * resp_b)
test = np.arange(N - 400, N)  # held out
pool = np.arange(N - 400)


def fit_member(seed, idx):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(D, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.01)
    chosen = torch.where(torch.tensor(a_preferred[idx])[:, None], x_a[idx], x_b[idx])
    rejected = torch.where(torch.tensor(a_preferred[idx])[:, None], x_b[idx], x_a[idx])
    for _ in range(60):
        loss = -torch.nn.functional.logsigmoid(net(chosen) - net(rejected)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def member_rewards(nets, x):
    with torch.no_grad():
        return np.stack([net(x).squeeze(1).numpy() for net in nets])  # [members, rows]


def test_log_likelihood(nets):
    logit = (member_rewards(nets, x_a[test]) - member_rewards(nets, x_b[test])).mean(axis=0)
    sign = np.where(a_preferred[test], 1.0, -1.0)
    return float(np.mean(-np.logaddexp(0.0, -sign * logit)))


index = ap.KnnIndex(prompt[pool], k=13)  # built once, reused by every round
initial = [int(i) for i in rng.choice(len(pool), 50, replace=False)]
for name, policy in [("random", "random"), ("balpm", {"policy": "balpm", "k": 13, "beta": 1.0})]:
    labelled = list(initial)
    for round_ in range(6):
        nets = [fit_member(100 * round_ + m, pool[labelled]) for m in range(5)]
        print(f"{name:>6} round {round_}: {len(labelled):4d} labels, test log-likelihood {test_log_likelihood(nets):.4f}")
        picks = ap.select(
            policy,
            50,
            labelled=labelled,
            rewards_a=member_rewards(nets, x_a[pool]),
            rewards_b=member_rewards(nets, x_b[pool]),
            index=index,
            seed=7,
            round=round_,
        )
        labelled += picks.tolist()
