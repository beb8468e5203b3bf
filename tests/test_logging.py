"""webglm logs under the "webglm" logger and never changes the root logger of its host."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: the root logger starts unconfigured, as in an embedding app.
SCRIPT = r'''
import logging
root = logging.getLogger()
before = (list(root.handlers), root.level)

import webglm
from webglm import Passage, Retrieval, WebGLM, load_config
from webglm.testing import HashEncoder

class Memory:
    async def retrieve(self, question):
        return Retrieval((Passage("p", "Green tea is steamed soon after picking to stop oxidation.",
                                  "https://tea.example/1", "Tea", source="local"),))

glm = WebGLM(load_config(overrides={"generate.backend": "echo"}), retriever=Memory(), encoder=HashEncoder())
assert glm.answer("How is green tea made?").text
logging.getLogger("webglm.pipeline").warning("a message with nowhere to go")

from webglm.serve.mcp_server import build
from webglm.serve.service import Service
build(Service(glm))

after = (list(root.handlers), root.level)
assert after == before, f"root logger changed: {before} -> {after}"
assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("webglm").handlers)
print("root untouched")
'''


def test_using_webglm_and_its_mcp_server_leaves_the_root_logger_alone():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "root untouched" in out.stdout
    # the unconfigured webglm logger printed nothing (no "last resort" output from a root handler)
    assert "a message with nowhere to go" not in out.stderr


def test_root_logger_kept_restores_handlers_and_level():
    import logging

    from webglm.logs import root_logger_kept

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    extra = logging.StreamHandler()
    with root_logger_kept(logging.ERROR):
        assert root.level == logging.ERROR
        root.addHandler(extra)
    assert root.handlers == handlers and root.level == level
