"""Damaging documents for property-based tests: one value of a JSON or TOML
document replaced by an arbitrary one, or its key deleted."""

from hypothesis import strategies as st


def values(none: bool = True):
    """Arbitrary JSON-like values (TOML has no null: `none=False`)."""
    scalars = st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    return st.recursive(
        (st.none() | scalars) if none else scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=12,
    )


def places(value, prefix=()):
    """Every place in a document: the key path to each value, the root first."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from places(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from places(v, (*prefix, i))


def mutated(data, doc, none: bool = True):
    """`doc` with one place (drawn from `data`) replaced or deleted; the root
    is only replaced by another table, so the result stays a document."""
    where = data.draw(st.sampled_from(list(places(doc))))
    new, delete = data.draw(values(none)), data.draw(st.booleans())
    if not where:
        return new if isinstance(new, dict) else doc
    node = doc
    for key in where[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[where[-1]]
    else:
        node[where[-1]] = new
    return doc
