"""User-facing errors.

Every error a user can cause (bad file, bad key, bad shape, bad recipe) is raised as a
`ScjdError` whose message names the file, the key and what was expected. The CLI prints
the message without a traceback and exits with status 2.
"""


class ScjdError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""


class DataError(ScjdError):
    """A data file is missing, malformed or inconsistent."""


class ConfigError(ScjdError):
    """A recipe or an override is invalid."""


class CheckpointError(ScjdError):
    """A checkpoint is corrupt, foreign, or does not fit what it is used for."""


class ExportError(ScjdError):
    """An ONNX model or TensorRT engine cannot be produced, loaded or trusted."""


class ArtifactSkipped(ExportError):
    """An optional export artifact that would not pay on this machine (e.g. an INT8 file
    with no layer faster than FP32): reported as skipped, with the reason, not as failed."""


class OutputError(ScjdError):
    """An output file or folder cannot be written (read-only, inside a file, disk full)."""


class TrainingDiverged(ScjdError):
    """A loss or validation metric became NaN or infinite; the last good checkpoint is kept."""
