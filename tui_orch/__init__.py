"""tui-orch: a keyboard-driven console that runs a small fleet of Docker hosts over SSH."""

import warnings

__version__ = "0.1.0"

# cryptography 51 deprecates DSA and asyncssh still names the DSA types at import time: ten
# lines of warnings on stderr before every command's own output (and in the middle of a refusal
# that should be one line). They concern asyncssh's code, not anything a user can change, so
# they are silenced for asyncssh's modules only; DSA keys are not offered by tui-orch anyway.
warnings.filterwarnings("ignore", message=r"DSA is deprecated", module=r"asyncssh(\.|$)")
