"""Derivation chains (see :mod:`verify.derivation`): the standard proofs in ``proofs`` and the
seeds' own derivations, line by line, in ``seeds``."""
