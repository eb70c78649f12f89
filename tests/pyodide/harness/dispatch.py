"""Python helpers the harness runs inside each Worker's Pyodide.

``call_rpc`` does what workerd's ``introspection.wrapper_func`` does for
``fetch`` and for RPC methods of entrypoints and Durable Objects: convert the
JS arguments with the SDK's ``python_from_rpc``, call the method (relaxed for
``fetch``: extra arguments are dropped), await it, and convert the result
back with ``python_to_rpc``.
"""

import ast
import inspect
import json
from types import FunctionType

from pyodide.code import relaxed_call
from workers import python_from_rpc, python_to_rpc


def is_rpc_method(instance, name):
    """Whether workerd exposes ``name`` as an RPC method of the instance's class.

    workerd's introspection.collect_methods: public names whose attribute,
    looked up along the MRO without running descriptors, is a plain
    function. A staticmethod, classmethod or property is not callable over
    RPC.
    """
    if name.startswith("_"):
        return False
    for base in type(instance).__mro__:
        if name in base.__dict__:
            return isinstance(base.__dict__[name], FunctionType)
    return False


async def call_rpc(relaxed, instance, name, *args):
    method = getattr(instance, name)
    py_args = [python_from_rpc(arg) for arg in args]
    result = relaxed_call(method, *py_args) if relaxed else method(*py_args)
    if inspect.isawaitable(result):
        result = await result
    return python_to_rpc(result)


async def run_probe(code):
    """Run ``code`` (top-level await allowed); return its last expression.

    The value comes back as ``{"json": ...}`` when ``json.dumps`` takes it,
    else as ``{"repr": ...}``.
    """
    tree = ast.parse(code, mode="exec")
    scope = {"__name__": "__probe__"}
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    body = compile(tree, "<probe>", "exec", flags=flags)
    outcome = eval(body, scope)
    if inspect.isawaitable(outcome):
        await outcome
    value = None
    if last is not None:
        value = eval(compile(last, "<probe>", "eval", flags=flags), scope)
        if inspect.isawaitable(value):
            value = await value
    try:
        return json.dumps({"json": value})
    except (TypeError, ValueError):
        return json.dumps({"repr": repr(value)})
