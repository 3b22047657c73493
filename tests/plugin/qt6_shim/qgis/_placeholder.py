"""Permissive placeholders for the QGIS classes the smoke test has no QGIS for.

Any attribute, call, operator or subclassing of a placeholder gives another placeholder, so
that module-level uses (`QgsWkbTypes.Polygon`, `class A(QgsProcessingAlgorithm)`) and simple
calls pass; whatever needs QGIS's real behaviour is out of the smoke test's reach.
"""


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()


class Anything(metaclass=_Meta):
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()

    def __call__(self, *args, **kwargs):
        return Anything()

    def __or__(self, other):
        return Anything()

    __ror__ = __and__ = __rand__ = __or__

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False


def placeholder_module(module_name: str):
    """A module `__getattr__`: every Qgs* name is a fresh placeholder class of that name."""
    classes = {}

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in classes:
            classes[name] = _Meta(name, (Anything,), {"__module__": module_name})
        return classes[name]
    return __getattr__
