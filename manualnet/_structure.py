"""Nested tuples of arrays: a recurrent layer's ``(input, (h_0, c_0))``, attention's ``(output, weights)``.

The autograd engine links each array of such a structure into the graph in
reading order, and the checkers compare them array by array; these are the
few walks over the nesting they share.  None stands for a part that is
absent (``hx=None``) or that no gradient reached.
"""


def flatten(value):
    """The leaves of a nested tuple or list, in reading order (None and constants are leaves too)."""
    if isinstance(value, (tuple, list)):
        return [leaf for part in value for leaf in flatten(part)]
    return [value]


def flatten_like(template, value):
    """``value``'s leaves at ``template``'s leaf positions: a gradient structure read along its inputs' structure.

    Where the template has a leaf (an input left None, say hx=None) and the
    value nests deeper (the layer's (dL/dh_0, dL/dc_0) for it), the whole
    subtree stands for that leaf.
    """
    if isinstance(template, (tuple, list)):
        parts = value if isinstance(value, (tuple, list)) else (None,) * len(template)
        return [leaf for part, piece in zip(template, parts) for leaf in flatten_like(part, piece)]
    return [value]


def rebuild(template, leaves):
    """The nesting of ``template`` filled with ``leaves`` (an iterator), in reading order."""
    if isinstance(template, (tuple, list)):
        return tuple(rebuild(part, leaves) for part in template)
    return next(leaves)


def map_structure(function, value):
    """The same nesting of tuples, with ``function`` applied to every array (None stays None)."""
    if isinstance(value, (tuple, list)):
        return tuple(map_structure(function, part) for part in value)
    return None if value is None else function(value)


def leaves(value, path=()):
    """[(path, array)] for every array in a nested tuple or list; a plain array is [((), array)]."""
    if isinstance(value, (tuple, list)):
        return [leaf for index, part in enumerate(value) for leaf in leaves(part, path + (index,))]
    return [] if value is None else [(path, value)]
