"""The online learner: the River model that scores every item and learns from expert labels."""

__all__: list[str] = []
