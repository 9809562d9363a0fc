"""The event bus: committed facts go out, subscribers react (in-process by default)."""

from chargeops.bus.memory import Bus, Handler, MemoryBus

__all__ = ["Bus", "Handler", "MemoryBus"]
