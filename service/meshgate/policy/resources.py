"""Resource patterns in rules and the normalized resource of a request.

Rule resources are strings: `*` (everything), a tenant `acme`, a namespace `acme/payments`, a topic
`persistent://acme/payments/orders-*` or `non-persistent://...`, or a cluster `cluster:standalone`.
A tenant or namespace pattern also covers everything inside it. Requests for a partition
(`orders-partition-3`) are matched as their partitioned topic (`orders`), as Pulsar's `TopicName` reads it.

`parse_resource` turns a name typed into `meshgate check`, `/v1/explain` or a policy test into the
Resource the broker shim would send for it; `target_of` is the one reading of a Resource that every
decision uses, whichever way the Resource arrived.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from meshgate.errors import BadRequestError, PolicyError
from meshgate.model import Resource
from meshgate.policy.patterns import NO_BINDINGS, NO_VARIABLES, Bindings, SegmentPattern, parse_segment
from meshgate.policy.pulsar_names import (
    BLANK_STARTS,
    DOMAINS,
    ENTITY_CHARACTERS,
    ENTITY_PATTERN,
    PARTITION_MARK,
    are_entity_names,
    is_entity_name,
    is_local_name,
    partition_index,
    partitioned_local_name,
    split_topic,
)


class Scope(StrEnum):
    ANY = "any"
    CLUSTER = "cluster"
    TENANT = "tenant"
    NAMESPACE = "namespace"
    TOPIC = "topic"


_TOPIC, _NAMESPACE, _TENANT = Scope.TOPIC, Scope.NAMESPACE, Scope.TENANT
# How many segments a resource pattern of each scope has.
_SEGMENTS = {Scope.ANY: 0, Scope.CLUSTER: 1, Scope.TENANT: 1, Scope.NAMESPACE: 2, Scope.TOPIC: 3}


class Target(NamedTuple):
    """A request's resource, split into the parts rules match on. A named tuple: one is built for every
    decision, and a tuple is built in a third of the time of a frozen dataclass."""

    domain: str = ""  # persistent | non-persistent, for topics
    tenant: str = ""
    namespace: str = ""  # the namespace's own name, without the tenant
    topic: str = ""  # the local topic name, partition suffix removed
    cluster: str = ""

    def parts(self, scope: Scope) -> tuple[str, ...] | None:
        """The values a pattern of `scope` matches against, or None if the request has no such part."""
        wanted: tuple[str, ...]
        if scope == Scope.TOPIC:
            wanted = (self.tenant, self.namespace, self.topic)
        elif scope == Scope.NAMESPACE:
            wanted = (self.tenant, self.namespace)
        elif scope == Scope.TENANT:
            wanted = (self.tenant,)
        elif scope == Scope.CLUSTER:
            wanted = (self.cluster,)
        else:
            wanted = ()
        return wanted if all(wanted) else None

    def describe(self) -> str:
        if self.topic:
            return f"{self.domain}://{self.tenant}/{self.namespace}/{self.topic}"
        if self.namespace:
            return f"{self.tenant}/{self.namespace}"
        return self.tenant or (f"cluster:{self.cluster}" if self.cluster else "(no resource)")


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """A rule's resource pattern. Its text is not kept but written again from its segments when asked
    (who-can, diff, report, lint), exactly as the policy wrote it: 100,000 rules keep ~80,000 patterns.
    Its (at most three) segments are slots of its own, not a tuple (48 B a pattern less); a segment
    without wildcard or capture is held as its text, which is what a decision compares (`held`);
    `segments` gives every segment as a `SegmentPattern`."""

    scope: Scope
    domain: str  # for topic patterns
    # The segments, a literal one as its text; None past the scope's count (`_SEGMENTS`).
    first: str | SegmentPattern | None
    second: str | SegmentPattern | None
    third: str | SegmentPattern | None

    @classmethod
    def of(cls, scope: Scope, domain: str, segments: tuple[SegmentPattern, ...]) -> ResourcePattern:
        assert len(segments) == _SEGMENTS[scope]
        held = [s.literal if s.literal is not None else s for s in segments]
        return cls(scope, domain, *held, *[None] * (3 - len(held)))

    @property
    def held(self) -> tuple[str | SegmentPattern, ...]:
        """The segments in order, a literal one as its text."""
        held = (self.first, self.second, self.third)[: _SEGMENTS[self.scope]]
        return tuple(s for s in held if s is not None)

    @property
    def segments(self) -> tuple[SegmentPattern, ...]:
        """Every segment as a pattern (a literal one parsed again from its text: who-can, lint)."""
        return tuple(parse_segment(s) if isinstance(s, str) else s for s in self.held)

    @property
    def variables(self) -> frozenset[str]:
        """The capture names it uses (a compile checks them; no decision reads them)."""
        slots = (self.first, self.second, self.third)  # a literal segment (text) captures nothing
        found = (s.variables for s in slots if s is not None and not isinstance(s, str))
        return frozenset().union(*found) or NO_VARIABLES

    @property
    def text(self) -> str:
        """The pattern as written: `*`, `cluster:NAME`, `tenant[/namespace]` or `domain://t/ns/topic`."""
        if self.scope is Scope.ANY:
            return "*"
        slots = (self.first, self.second, self.third)
        texts = [s if isinstance(s, str) else s.text for s in slots if s is not None]
        if self.scope is Scope.CLUSTER:
            return "cluster:" + texts[0]
        path = "/".join(texts)
        return f"{self.domain}://{path}" if self.scope is Scope.TOPIC else path

    def __hash__(self) -> int:
        """The hash of its text: equal patterns have equal texts (`meshgate.policy.shared` finds a
        pattern by its text)."""
        return hash(self.text)

    @property
    def tenant_literal(self) -> str | None:
        """The exact tenant this pattern is limited to, used as an index key; None if any."""
        if self.scope in (Scope.TENANT, Scope.NAMESPACE, Scope.TOPIC):
            first = self.first
            return first if isinstance(first, str) else None
        return None

    def matches(self, target: Target, bindings: Bindings = NO_BINDINGS) -> bool:
        # Target.parts, inlined: this runs for every candidate (subject, resource) pair of a decision.
        scope = self.scope
        parts: tuple[str, ...] | None
        if scope is _TOPIC:
            if target.domain != self.domain:
                return False
            parts = target[1:4]
        elif scope is _NAMESPACE:
            parts = target[1:3]
        elif scope is _TENANT:
            parts = target[1:2]
        else:
            parts = target.parts(scope)
        if parts is None or "" in parts:
            return False
        # The scope gave as many parts as it has segments; the slots past them are None.
        for segment, part in zip((self.first, self.second, self.third), parts, strict=False):
            # `type() is`, not isinstance: no call on the decision path (cProfile counts isinstance's)
            if type(segment) is str:  # a literal segment
                if part != segment:
                    return False
            elif not segment.matches(part, bindings):  # type: ignore[union-attr]
                return False
        return True

    def bind(self, target: Target) -> dict[str, str] | None:
        """The capture values that make this pattern match `target` (best effort, for who-can)."""
        parts = target.parts(self.scope)
        if parts is None or (self.scope is Scope.TOPIC and target.domain != self.domain):
            return None
        regex = "/".join(s.to_regex() for s in self.segments)
        found = re.fullmatch(regex, "/".join(parts), re.DOTALL)
        if found is None or not self.matches(target, found.groupdict()):
            return None
        return found.groupdict()


def _entity_segment(text: str, kind: str, part: str) -> SegmentPattern:
    """A tenant, namespace or cluster segment whose literal text Pulsar could accept in a name."""
    segment = parse_segment(part)
    for token in segment.tokens:
        if isinstance(token, str) and token != "*" and not is_entity_name(token):
            raise PolicyError(
                f"{text!r}: {kind} {part!r} can never match: Pulsar accepts only {ENTITY_CHARACTERS} in "
                f"{kind} names"
            )
    return segment


def parse_resource_pattern(text: str) -> ResourcePattern:
    if text == "*":
        return ResourcePattern.of(Scope.ANY, "", ())
    if text.startswith("cluster:"):
        segment = _entity_segment(text, "cluster", text[len("cluster:") :])
        return ResourcePattern.of(Scope.CLUSTER, "", (segment,))
    domain, sep, rest = text.partition("://")
    if sep:
        return _topic_pattern(text, domain, rest)
    parts = text.split("/")
    if len(parts) > 2:
        raise PolicyError(f"{text!r}: a topic needs persistent:// or non-persistent:// in front")
    scope = Scope.TENANT if len(parts) == 1 else Scope.NAMESPACE
    kinds = ("tenant", "namespace")[: len(parts)]
    segments = tuple(_entity_segment(text, k, p) for k, p in zip(kinds, parts, strict=True))
    return ResourcePattern.of(scope, "", segments)


def _topic_pattern(text: str, domain: str, rest: str) -> ResourcePattern:
    if domain not in DOMAINS:
        raise PolicyError(f"{text!r}: topic domain must be persistent or non-persistent, not {domain!r}")
    domain = sys.intern(domain)  # one string for every pattern, not one each
    tenant, _, remainder = rest.partition("/")
    namespace, _, local = remainder.partition("/")
    if not local:
        raise PolicyError(f"{text!r}: a topic pattern is <domain>://<tenant>/<namespace>/<topic>")
    if partition_index(local) >= 0:
        raise PolicyError(f"{text!r} names a partition; name the partitioned topic instead")
    owner = (_entity_segment(text, "tenant", tenant), _entity_segment(text, "namespace", namespace))
    if "/" in local:  # Pulsar reads <domain>://t/ns/a/b as a v1 name (cluster ns), which meshgate refuses
        raise PolicyError(
            f"{text!r} can never match: a topic's own name holds no '/' (Pulsar reads such a name as a v1 "
            f"name whose cluster is '{namespace}'; meshgate decides v2 names only); write the topic without "
            "'/', like "
            f"'{domain}://{tenant}/{namespace}/{local.replace('/', '-')}', or '{tenant}/{namespace}' for "
            "every topic of the namespace"
        )
    segments = (*owner, parse_segment(local))
    return ResourcePattern.of(Scope.TOPIC, domain, segments)


def _check_names(context: str, *parts: tuple[str, str]) -> None:
    """Refuse a tenant, namespace or cluster name Pulsar would refuse; `context` names the whole name."""
    for kind, name in parts:
        if name and not is_entity_name(name):
            where = f" in {context}" if context else ""
            raise BadRequestError(
                f"{kind} {name!r}{where} is not a name Pulsar accepts ({ENTITY_CHARACTERS}, at least one)"
            )


# A v2 topic name in lower-case domain whose tenant and namespace are entity names and whose local name
# holds no `/`: what a broker sends for nearly every decision. Such a name reads the same through
# `split_topic`, `are_entity_names` and the checks below; every other name takes the full path, which
# words the errors.
_PLAIN_V2_TOPIC = re.compile(
    f"({'|'.join(DOMAINS)})://({ENTITY_PATTERN})/({ENTITY_PATTERN})/([^/]+)", re.ASCII
)


def target_of(resource: Resource) -> Target:
    """Normalize a request's resource; raise BadRequestError for a malformed or v1 topic or namespace,
    or a name Pulsar would refuse (`meshgate.policy.pulsar_names`)."""
    if resource.topic:
        plain = _PLAIN_V2_TOPIC.fullmatch(resource.topic)
        if plain is not None and not resource.cluster:
            domain, tenant, namespace, local = plain.groups()
            if local[0] not in BLANK_STARTS and PARTITION_MARK not in local:
                return Target(domain, tenant, namespace, local)
        return _topic_target(resource)
    tenant, namespace = resource.tenant, ""
    if resource.namespace:
        parts = resource.namespace.split("/")
        if len(parts) == 3 and all(parts):
            raise BadRequestError(
                f"namespace {resource.namespace!r} is a v1 name (<tenant>/<cluster>/<namespace>); "
                "meshgate decides v2 names only: <tenant>/<namespace>"
            )
        if len(parts) != 2 or not all(parts):
            raise BadRequestError(f"namespace {resource.namespace!r} is not <tenant>/<namespace>")
        tenant, namespace = parts
        _check_names(f"namespace {resource.namespace!r}", ("tenant", tenant), ("namespace", namespace))
    else:
        _check_names("", ("tenant", tenant))
    _check_names("", ("cluster", resource.cluster))
    return Target(tenant=tenant, namespace=namespace, cluster=resource.cluster)


def _topic_target(resource: Resource) -> Target:
    """`target_of` a topic, for every name, the plain ones too (the tests compare it with the fast path)."""
    parts = split_topic(resource.topic)
    if parts is None:
        raise BadRequestError(f"topic {resource.topic!r} is not <domain>://<tenant>/<namespace>/<topic>")
    if parts.cluster:
        raise BadRequestError(
            f"topic {resource.topic!r} is a v1 name (<domain>://<tenant>/<cluster>/<namespace>/<topic>); "
            "meshgate decides v2 names only: <domain>://<tenant>/<namespace>/<topic>"
        )
    if not are_entity_names(parts.tenant, parts.namespace):
        _check_names(f"topic {resource.topic!r}", ("tenant", parts.tenant), ("namespace", parts.namespace))
    if resource.cluster:
        _check_names("", ("cluster", resource.cluster))
    if not is_local_name(parts.local):
        raise BadRequestError(f"topic {resource.topic!r} is not a name Pulsar accepts: its own name is blank")
    local = partitioned_local_name(parts.local)
    if not local:
        raise BadRequestError(f"topic {resource.topic!r} is a partition of a topic without a name")
    return Target(parts.domain, parts.tenant, parts.namespace, local, resource.cluster)


def parse_resource(text: str) -> Resource:
    """The Resource the broker shim sends for `text`: a full topic name, a namespace, a tenant or
    `cluster:NAME`. Raise BadRequestError for text Pulsar would not read as one of them; a name meshgate
    does not decide (a v1 name) is left for the decision to refuse, as it refuses it from the broker."""
    if not text:
        return Resource()
    if text.startswith("cluster:"):
        return Resource(cluster=text[len("cluster:") :])
    if "://" in text:
        parts = split_topic(text)
        if parts is None:
            raise BadRequestError(f"topic {text!r} is not <domain>://<tenant>/<namespace>/<topic>")
        return Resource(tenant=parts.tenant, namespace=parts.namespace_name, topic=text)
    segments = text.split("/")
    if len(segments) > 3 or not all(segments):
        raise BadRequestError(
            f"{text!r} is not a tenant or <tenant>/<namespace>; a topic needs persistent:// in front"
        )
    return Resource(tenant=segments[0], namespace=text if len(segments) > 1 else "")
