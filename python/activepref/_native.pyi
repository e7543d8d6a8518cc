"""Type stubs of the compiled module; call the documented wrappers in ``activepref`` instead."""

from typing import Optional

import numpy as np
import numpy.typing as npt

__version__: str

class KnnIndex:
    """Exact kNN index over float32 prompt features ``[pool, d]`` for BAL-PM's entropy term;
    ``k`` is the largest BAL-PM ``k`` it serves. Raises ``ValueError`` for ``k == 0`` or NaN."""

    def __init__(self, prompt_features: npt.NDArray[np.float32], k: int) -> None: ...
    @property
    def rows(self) -> int: ...
    @property
    def dim(self) -> int: ...

def _select(
    policy_json: str,
    batch: int,
    pool: int,
    labelled: npt.NDArray[np.int64],
    unlabelled: npt.NDArray[np.int64],
    prompt_features: Optional[npt.NDArray[np.float32]],
    prompt_ids: Optional[npt.NDArray[np.int64]],
    uncertainty: Optional[npt.NDArray[np.float64]],
    logits: Optional[npt.NDArray[np.float64]],
    index: Optional[KnnIndex],
    seed: int,
    round: int,
    threads: Optional[int],
) -> npt.NDArray[np.int64]: ...
def _scores(logits: npt.NDArray[np.float64], kind: str) -> npt.NDArray[np.float64]: ...
def _select_pairs(
    rule_json: str,
    mode: str,
    mu: npt.NDArray[np.float32],
    sd: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    prompt_keys: npt.NDArray[np.uint64],
    members: Optional[npt.NDArray[np.float32]],
    oracle: Optional[npt.NDArray[np.float32]],
    seed: int,
    round: int,
    threads: Optional[int],
) -> npt.NDArray[np.int64]: ...
def _policies() -> str: ...
def _pair_policies() -> str: ...
