"""What the Graph SDK made of an answer, compared with the answer's raw JSON.

The SDK reads JSON through each model's ``get_field_deserializers()``: a map from the JSON name to a small function
that calls one reader of the parse node (``get_enum_value``, ``get_object_value``, ...) and sets one attribute.
``sdk_fields`` reads that map (the JSON name, the attribute, the reader and the type it reads into), so the checks
here use exactly the SDK's own names and types, never a second spelling of them.

- ``lost_values``: a property the raw JSON has a value for, but the model holds None (or fewer items): an enum
  member the SDK does not know, a time stamp or number it cannot read.
- ``unknown_properties``: a JSON property the SDK's model does not have (it lands in ``additional_data``).
- ``missing_properties``: a property the SDK's model has, and Graph would send (with null when unset), that the
  raw JSON lacks.
"""
from __future__ import annotations

import collections
import functools

# A property that went wrong: where (e.g. "incident 27324 / alerts[0] / evidence[2]"), the JSON name, the raw value,
# and what the SDK made of it (the reader's name, e.g. "get_enum_value(AlertDetermination)").
Problem = collections.namedtuple('Problem', 'path key raw reader')
Field = collections.namedtuple('Field', 'key attr reader target')

# JSON names that are OData annotations of the answer, not properties of the model.
ANNOTATIONS = ('@odata.context', '@odata.nextLink', '@odata.count', '@odata.deltaLink', '@odata.id', '@odata.etag')


def sdk_fields(model):
    """{JSON name: Field} of a model, read from its own deserializers."""
    return fields_of(type(model))


@functools.lru_cache(maxsize=None)
def fields_of(model_class):
    """{JSON name: Field} of a model class (its deserializers are the same for every instance)."""
    fields = {}
    for key, reader in model_class().get_field_deserializers().items():
        code = reader.__code__
        attr = next(const for const in code.co_consts if isinstance(const, str))
        method = next(name for name in code.co_names if name.startswith('get_'))
        target = next((cell.cell_contents for cell in reader.__closure__ or () if isinstance(cell.cell_contents, type)), None)
        fields[key] = Field(key, attr, method, target)
    return fields


def reader_name(field):
    """E.g. 'get_enum_value(AlertDetermination)'."""
    return '%s(%s)' % (field.reader, field.target.__name__) if field.target else field.reader


def is_open_type(model):
    """Models such as security.dictionary keep every property in additional_data by design."""
    return not set(sdk_fields(model)) - {'@odata.type'}


def lost_values(model, raw, path):
    """Problems for every value of ``raw`` (a JSON object) that did not survive parsing into ``model``, recursively."""
    problems = []
    fields = sdk_fields(model)
    for key, value in raw.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        parsed = getattr(model, field.attr)
        if parsed is None or (isinstance(value, list) and (len(parsed) != len(value) or None in parsed)):
            problems.append(Problem(path, key, value, reader_name(field)))
        elif field.reader == 'get_object_value' and isinstance(value, dict) and not is_open_type(parsed):
            problems.extend(lost_values(parsed, value, '%s / %s' % (path, key)))
        elif field.reader == 'get_collection_of_object_values':
            for index, (item, item_raw) in enumerate(zip(parsed, value)):
                if isinstance(item_raw, dict) and not is_open_type(item):
                    problems.extend(lost_values(item, item_raw, '%s / %s[%d]' % (path, key, index)))
    return problems


def walk(model, raw, path=''):
    """(entity name, model, raw JSON object, path) of ``model`` and of every model inside it."""
    yield type(model).__name__, model, raw, path
    for key, field in sdk_fields(model).items():
        value = raw.get(key)
        parsed = getattr(model, field.attr, None)
        if field.reader == 'get_object_value' and isinstance(value, dict) and parsed is not None and not is_open_type(parsed):
            yield from walk(parsed, value, '%s / %s' % (path, key))
        elif field.reader == 'get_collection_of_object_values' and isinstance(value, list) and parsed:
            for index, (item, item_raw) in enumerate(zip(parsed, value)):
                if isinstance(item_raw, dict) and not is_open_type(item):
                    yield from walk(item, item_raw, '%s / %s[%d]' % (path, key, index))


def unknown_properties(model, raw):
    """The JSON names of ``raw`` that ``model`` has no property for (annotations aside)."""
    return sorted(set(raw) - set(sdk_fields(model)) - set(ANNOTATIONS))


def missing_properties(model, raw, allowed=()):
    """The SDK model's JSON names that ``raw`` lacks, but for ``allowed`` and '@odata.type' (Graph writes it only
    where the type differs from the declared one)."""
    return sorted(set(sdk_fields(model)) - set(raw) - set(allowed) - {'@odata.type'})


def by_entity(findings):
    """{entity: sorted names} from (entity, names) pairs, for readable failure messages."""
    merged = collections.defaultdict(set)
    for entity, names in findings:
        merged[entity].update(names)
    return dict((entity, sorted(names)) for entity, names in sorted(merged.items()) if names)


def describe(problems, limit=40):
    """Problems as lines, at most ``limit`` of them, with a count of the rest."""
    lines = ['%s: %s = %r (the SDK read it with %s and got nothing)' % (problem.path, problem.key, problem.raw, problem.reader)
             for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append('... and %d more' % (len(problems) - limit))
    return '\n'.join(lines)
