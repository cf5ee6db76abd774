"""PI GCS controller error codes (``ERR?``) and their meaning, for the common ones."""

from __future__ import annotations

#: Code -> text, as in the PI General Command Set error list. Codes not listed are reported
#: by number only.
GCS_ERRORS: dict[int, str] = {
    0: "no error",
    1: "parameter syntax error",
    2: "unknown command",
    3: "command length out of limits or command buffer overrun",
    4: "error while scanning",
    5: "unallowable move attempted on unreferenced axis, or move attempted with servo off",
    6: "parameter for SGA not valid",
    7: "position out of limits",
    8: "velocity out of limits",
    9: "attempt to set pivot point while U, V and W not all 0",
    10: "controller was stopped by command",
    11: "parameter for SST or for one of the embedded scan algorithms out of range",
    12: "invalid axis combination for fast scan",
    13: "parameter for NAV out of range",
    14: "invalid analog channel",
    15: "invalid axis identifier",
    16: "unknown stage name",
    17: "parameter out of range",
    23: "illegal axis",
    24: "incorrect number of parameters",
    25: "invalid floating point number",
    26: "parameter missing",
}

#: ``STP`` leaves this code behind on purpose.
STOPPED_BY_COMMAND = 10


def describe_error(code: int) -> str:
    """``"PI error 7: position out of limits"`` (number only for codes not in the table)."""
    text = GCS_ERRORS.get(code)
    return f"PI error {code}: {text}" if text else f"PI error {code}"
