"""Call registered ComfyUI node classes directly (core nodes are V1 in 0.3.64 and V3 in 0.8)."""


def node_class(name):
    import nodes

    return nodes.NODE_CLASS_MAPPINGS[name]


def call_node(name, **kwargs) -> tuple:
    """Run a node class's own code: V3 ``execute`` or V1 ``FUNCTION``; returns the output tuple."""
    cls = node_class(name)
    if hasattr(cls, "define_schema"):
        return cls.execute(**kwargs).args
    return getattr(cls(), cls.FUNCTION)(**kwargs)
