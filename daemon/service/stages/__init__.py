"""The stages of the pipeline, one module each: decode, score, decide, admit (or both at once:
select), emit."""

from daemon.service.stages.admit import Admit
from daemon.service.stages.decide import Decide
from daemon.service.stages.decode import Decode
from daemon.service.stages.emit import Emit
from daemon.service.stages.score import Score
from daemon.service.stages.select import BatchSelect

__all__ = ["Admit", "BatchSelect", "Decide", "Decode", "Emit", "Score"]
