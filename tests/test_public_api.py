"""identitylib's public surface is msal 1.39's (``import identitylib as msal``), exhaustively.

Every public name of every msal module that apps import from is compared with its
identitylib twin: module-level names, the classes' members (methods with their parameters
in msal's order, constants with msal's values, nested constant classes), base classes,
constructors, and the attributes of application objects, for the blocking classes and for
``identitylib.aio``'s. What identitylib leaves out is in an allow-list below, each entry
with its reason; the allow-lists are themselves checked, so a stale entry fails too.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections import UserDict
from types import ModuleType
from typing import Any

import pytest

import identitylib
from identitylib import aio
from tests._fakes import MsalStyleClient
from tests._servers import require_module

from .conftest import oidc_config

msal = require_module("msal")
pytestmark = pytest.mark.msal

#: msal's modules that apps import from, and their identitylib twins.
MIRRORED_MODULES = {
    "msal": "identitylib",
    "msal.application": "identitylib.application",
    "msal.token_cache": "identitylib.token_cache",
    "msal.authority": "identitylib.authority",
    "msal.exceptions": "identitylib.exceptions",
    "msal.managed_identity": "identitylib.managed_identity",
    "msal.auth_scheme": "identitylib.auth_scheme",
}

#: msal's other modules: its internals (msal's docs: only the names imported by
#: ``msal/__init__.py`` and their documented members are public).
INTERNAL_MODULES = {
    "msal.oauth2cli": "msal's OAuth 2.0 client; its public names are re-exported by msal",
    "msal.broker": "WAM/broker glue; identitylib has no broker (docs/migrating.md)",
    "msal.cloudshell": "Cloud Shell's token source, reached through acquire_token_interactive",
    "msal.individual_cache": "msal's HTTP-level memoization helper",
    "msal.mex": "WS-Trust metadata exchange, used by username/password for federated users",
    "msal.wstrust_request": "WS-Trust request building (federated username/password)",
    "msal.wstrust_response": "WS-Trust response parsing (federated username/password)",
    "msal.region": "region detection, reached through azure_region=",
    "msal.sku": "the version string, re-exported as msal.__version__",
    "msal.telemetry": "msal's telemetry header; identitylib sends no telemetry",
    "msal.throttled_http_client": "msal's throttling wrapper of http_client",
    "msal.__main__": "msal's interactive test console (python -m msal)",
}

LOGGER = "a module logger: identitylib logs under 'identitylib.*' (docs/migrating.md)"
#: msal module-level names identitylib does not offer, and why.
ALLOWED_MISSING_NAMES = {
    ("msal.application", "logger"): LOGGER,
    ("msal.token_cache", "logger"): LOGGER,
    ("msal.authority", "logger"): LOGGER,
    ("msal.managed_identity", "logger"): LOGGER,
    ("msal.token_cache", "is_subdict_of"): "an undocumented helper of msal's cache search",
    ("msal.authority", "Authority"): (
        "msal's authority object discovers endpoints in its constructor (network I/O); "
        "identitylib's (app.authority) is sans-I/O, with another interface"
    ),
    ("msal.authority", "canonicalize"): "an undocumented URL helper of msal's Authority",
    ("msal.authority", "tenant_discovery"): "an undocumented HTTP helper of msal's Authority",
}

#: Members of msal classes identitylib does not offer, and why.
ALLOWED_MISSING_MEMBERS: dict[tuple[str, str], str] = {}

#: Constructors whose parameters differ, and why.
ALLOWED_CONSTRUCTORS = {
    "IdTokenError": (
        "msal raises it with (reason, now, claims); identitylib never raises it (ID token "
        "problems are invalid_id_token results) and keeps the class for except clauses"
    ),
}

#: Base classes of msal classes that identitylib's twins do not have, and why.
ALLOWED_BASES = {
    ("SystemAssignedManagedIdentity", UserDict): (
        "a dict subclass instead of a UserDict: a MutableMapping all the same, and "
        "json.dumps() serializes it"
    ),
    ("UserAssignedManagedIdentity", UserDict): "a dict subclass (see above)",
    ("ManagedIdentity", UserDict): "a dict subclass (see above)",
}

#: Public attributes of msal's application objects identitylib's do not have, and why.
ALLOWED_MISSING_APP_ATTRIBUTES = {
    "client": "msal's internal OAuth 2.0 client object (identitylib's flows are sans-I/O)",
    "authority_groups": "msal's memo of instance discovery's alias groups",
}

APP_CLASSES = ("ClientApplication", "PublicClientApplication", "ConfidentialClientApplication")


# ---------------------------------------------------------------- helpers


def defined_names(module: ModuleType) -> set[str]:
    """Public names a module defines (classes, functions, assignments); for a package,
    the names its ``__init__`` imports too."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and hasattr(module, "__path__"):
            names.update(alias.asname or alias.name for alias in node.names)
    return {name for name in names if not name.startswith("_")}


def msal_public_names() -> list[tuple[str, str]]:
    return sorted(
        (module_name, name)
        for module_name in MIRRORED_MODULES
        for name in defined_names(importlib.import_module(module_name))
    )


def twin_module(module_name: str) -> ModuleType:
    return importlib.import_module(MIRRORED_MODULES[module_name])


def msal_classes() -> dict[str, tuple[type, type]]:
    """Every public msal class, by name, with its identitylib twin."""
    found: dict[str, tuple[type, type]] = {}
    for module_name, name in msal_public_names():
        theirs = getattr(importlib.import_module(module_name), name)
        if inspect.isclass(theirs) and (module_name, name) not in ALLOWED_MISSING_NAMES:
            found.setdefault(name, (theirs, getattr(twin_module(module_name), name)))
    return found


def parameters(function: Any) -> list[str]:
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def own_members(cls: type) -> dict[str, Any]:
    """Public members of an msal class defined by msal (not by object, Exception, dict)."""
    members: dict[str, Any] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next(c for c in cls.__mro__ if name in vars(c))
        if owner.__module__.startswith("msal"):
            members[name] = vars(owner)[name]
    return members


def is_constant(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, tuple, frozenset, type(None)))


def compare_members(label: str, theirs: type, ours: type) -> list[str]:
    """What differs between an msal class and its twin (an empty list when nothing)."""
    problems = []
    for name, member in own_members(theirs).items():
        if (label, name) in ALLOWED_MISSING_MEMBERS:
            continue
        if not hasattr(ours, name):
            problems.append(f"{label}.{name} is missing")
            continue
        counterpart = inspect.getattr_static(ours, name)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(counterpart, (staticmethod, classmethod)):
            counterpart = counterpart.__func__
        if inspect.isfunction(member):
            expected = parameters(member)
            actual = parameters(counterpart)
            if [p for p in actual if p in expected] != expected:
                problems.append(f"{label}.{name}{tuple(actual)} lacks msal's {tuple(expected)}")
        elif inspect.isclass(member):
            problems.extend(compare_members(f"{label}.{name}", member, getattr(ours, name)))
        elif is_constant(member) and getattr(ours, name) != member:
            problems.append(f"{label}.{name} == {getattr(ours, name)!r}, msal: {member!r}")
    return problems


# ---------------------------------------------------------------- modules and names


def test_every_msal_module_is_mirrored_or_internal() -> None:
    submodules = {f"msal.{m.name}" for m in pkgutil.iter_modules(msal.__path__)}
    assert submodules == (set(MIRRORED_MODULES) | set(INTERNAL_MODULES)) - {"msal"}


@pytest.mark.parametrize(("module_name", "name"), msal_public_names())
def test_every_public_msal_name_exists(module_name: str, name: str) -> None:
    if (module_name, name) in ALLOWED_MISSING_NAMES:
        pytest.skip(ALLOWED_MISSING_NAMES[module_name, name])
    ours = getattr(twin_module(module_name), name, None)
    assert ours is not None, f"{MIRRORED_MODULES[module_name]}.{name} is missing"
    theirs = getattr(importlib.import_module(module_name), name)
    if is_constant(theirs) or isinstance(theirs, list):
        assert ours == theirs


def test_allow_lists_are_not_stale() -> None:
    names = msal_public_names()
    for module_name, name in ALLOWED_MISSING_NAMES:
        assert (module_name, name) in names, f"msal has no {module_name}.{name} any more"
        assert not hasattr(twin_module(module_name), name), f"{name} exists now: unlist it"
    classes = msal_classes()
    for label, name in ALLOWED_MISSING_MEMBERS:
        theirs, ours = classes[label]
        assert name in own_members(theirs)
        assert not hasattr(ours, name), f"{label}.{name} exists now: unlist it"
    for label, base in ALLOWED_BASES:
        theirs, ours = classes[label]
        assert issubclass(theirs, base)
        assert not issubclass(ours, base), f"{label} is a {base.__name__} now: unlist it"
    for label in ALLOWED_CONSTRUCTORS:
        theirs, ours = classes[label]
        assert parameters(theirs.__init__) != parameters(ours.__init__)


def test_the_same_objects_under_every_module_name() -> None:
    """``from identitylib.application import X`` is ``identitylib.X``, as in msal."""
    import identitylib.application
    import identitylib.auth_scheme
    import identitylib.token_cache

    assert identitylib.application.ConfidentialClientApplication is (
        identitylib.ConfidentialClientApplication
    )
    assert identitylib.token_cache.SerializableTokenCache is identitylib.SerializableTokenCache
    assert identitylib.auth_scheme.PopAuthScheme is identitylib.PopAuthScheme


# ---------------------------------------------------------------- classes


@pytest.mark.parametrize("name", sorted(msal_classes()))
def test_class_members_parameters_and_constants(name: str) -> None:
    theirs, ours = msal_classes()[name]
    assert compare_members(name, theirs, ours) == []


def classes_with_bases() -> list[str]:
    return sorted(n for n, (theirs, _) in msal_classes().items() if theirs.__mro__[1:-1])


def classes_with_constructors() -> list[str]:
    return sorted(
        name
        for name, (theirs, _) in msal_classes().items()
        if any("__init__" in vars(c) for c in theirs.__mro__ if c.__module__.startswith("msal"))
        and name not in ALLOWED_CONSTRUCTORS
    )


@pytest.mark.parametrize("name", classes_with_bases())
def test_base_classes(name: str) -> None:
    """Exceptions keep msal's built-in bases (``except ValueError`` still catches them)."""
    theirs, ours = msal_classes()[name]
    twins = {t: o for t, o in msal_classes().values()}
    for base in theirs.__mro__[1:-1]:
        if (name, base) not in ALLOWED_BASES:
            expected = twins.get(base, base)
            assert issubclass(ours, expected), f"{name} is no {expected.__name__}"


@pytest.mark.parametrize("name", classes_with_constructors())
def test_constructor_parameters(name: str) -> None:
    theirs, ours = msal_classes()[name]
    expected = parameters(theirs.__init__)
    actual = parameters(ours.__init__)
    assert [p for p in actual if p in expected] == expected, name


@pytest.mark.parametrize("name", APP_CLASSES)
def test_aio_classes_have_msals_members_too(name: str) -> None:
    assert compare_members(name, getattr(msal, name), getattr(aio, name)) == []


# ---------------------------------------------------------------- values and behaviour


def test_prompt_values() -> None:
    for name in ("NONE", "LOGIN", "CONSENT", "SELECT_ACCOUNT", "CREATE"):
        assert getattr(identitylib.Prompt, name) == getattr(msal.Prompt, name)


@pytest.mark.parametrize("name", APP_CLASSES)
def test_region_constants_drive_azure_region(name: str) -> None:
    """azure-identity passes ``ATTEMPT_REGION_DISCOVERY`` read from the class."""
    assert identitylib.ClientApplication.ATTEMPT_REGION_DISCOVERY is True
    assert getattr(identitylib, name).DISABLE_MSAL_FORCE_REGION is False
    assert (
        getattr(aio, name).ATTEMPT_REGION_DISCOVERY
        is msal.ClientApplication.ATTEMPT_REGION_DISCOVERY
    )


#: msal's constructor discovers: its own http_client answers the OpenID configuration.
DISCOVERY = {
    "https://login.microsoftonline.com/tenant/v2.0/.well-known/openid-configuration": oidc_config(
        tenant="tenant"
    )
}


def make_apps(library: Any, name: str) -> Any:
    cls = getattr(library, name)
    credential = "secret" if name == "ConfidentialClientApplication" else None
    return cls(
        "client-id",
        client_credential=credential,
        authority="https://login.microsoftonline.com/tenant",
        http_client=MsalStyleClient(DISCOVERY, {}),
    )


@pytest.mark.parametrize("name", APP_CLASSES)
def test_application_attributes(name: str) -> None:
    theirs = make_apps(msal, name)
    expected = {k for k in vars(theirs) if not k.startswith("_")} - set(
        ALLOWED_MISSING_APP_ATTRIBUTES
    )
    assert set(ALLOWED_MISSING_APP_ATTRIBUTES) <= set(vars(theirs))
    for library in (identitylib, aio):
        ours = make_apps(library, name)
        missing = {attribute for attribute in expected if not hasattr(ours, attribute)}
        assert missing == set(), library.__name__
        for attribute in ("client_id", "client_credential", "app_name", "app_version"):
            assert getattr(ours, attribute) == getattr(theirs, attribute)


@pytest.mark.parametrize("name", APP_CLASSES)
def test_is_pop_supported_without_a_broker(name: str) -> None:
    """False where there is no broker: msal answers a falsy value for an app without one."""
    assert not make_apps(msal, name).is_pop_supported()
    assert make_apps(identitylib, name).is_pop_supported() is False
    assert make_apps(aio, name).is_pop_supported() is False


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"http_method": "GET", "url": "https://api/resource"},
        {"http_method": "get", "url": "https://api/resource", "nonce": "n"},
        {"http_method": "TRACE", "url": "https://api/resource", "nonce": "n"},
    ],
)
def test_pop_auth_scheme_checks_its_arguments_as_msal(arguments: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        msal.PopAuthScheme(**arguments)
    with pytest.raises(ValueError):
        identitylib.PopAuthScheme(**arguments)


def test_pop_auth_scheme_is_refused_as_msal_refuses_it_without_a_broker() -> None:
    """A valid scheme builds on both; without a broker both refuse it with ValueError
    (msal: "POP is not supported on Linux", on a machine without a broker)."""
    arguments = {"http_method": "POST", "url": "https://api/resource", "nonce": "n"}
    assert msal.PopAuthScheme(**arguments)
    scheme = identitylib.PopAuthScheme(**arguments)
    assert "nonce=..." in repr(scheme)
    app = make_apps(identitylib, "PublicClientApplication")
    with pytest.raises(ValueError, match="broker"):
        app.acquire_token_interactive(["User.Read"], auth_scheme=scheme)
    theirs = make_apps(msal, "PublicClientApplication")
    with pytest.raises(ValueError):
        theirs.acquire_token_interactive(["User.Read"], auth_scheme=msal.PopAuthScheme(**arguments))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc\n",
        "-----BEGIN CERTIFICATE-----\nAAA\nBBB\n-----END CERTIFICATE-----\n"
        "-----begin certificate-----CCC-----end certificate-----",
        "x -----BEGIN CERTIFICATE-----a-b-----BEGIN CERTIFICATE-----ZZ-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE----------END CERTIFICATE-----",
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
    ],
)
def test_extract_certs_as_msal(text: str) -> None:
    from identitylib.application import extract_certs

    def outcome(function: Any) -> Any:
        try:
            return function(text)
        except ValueError:
            return ValueError

    assert outcome(extract_certs) == outcome(msal.application.extract_certs)


@pytest.mark.filterwarnings("ignore:response_mode:UserWarning")
def test_positional_arguments_mean_the_same_everywhere() -> None:
    """msal's parameters are positional too: the asyncio twins take them in msal's order."""
    import asyncio

    arguments = (["User.Read"], "http://localhost", "state-1", "login", "alice@contoso.com")

    async def in_aio() -> dict[str, Any]:
        app = make_apps(aio, "PublicClientApplication")
        flow: dict[str, Any] = await app.initiate_auth_code_flow(*arguments)
        return flow

    flows = [
        make_apps(msal, "PublicClientApplication").initiate_auth_code_flow(*arguments),
        make_apps(identitylib, "PublicClientApplication").initiate_auth_code_flow(*arguments),
        asyncio.run(in_aio()),
    ]
    for flow in flows:
        assert flow["state"] == "state-1"
        assert "prompt=login" in flow["auth_uri"]
        assert "login_hint=alice%40contoso.com" in flow["auth_uri"]
