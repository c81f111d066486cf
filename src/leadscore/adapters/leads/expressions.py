"""DynamoDB update expressions: one `UpdateItem`'s SET, ADD, REMOVE and condition parts
with their name and value placeholders, built up clause by clause."""

from __future__ import annotations

from typing import Any

from .codec import to_attribute


class Update:
    """One UpdateExpression with its placeholders (`#n0`, `:v0`, ...) and its conditions (all must hold)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.add: list[str] = []
        self.set: list[str] = []
        self.remove: list[str] = []
        self.conditions: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = self.names.get(attribute)
        if placeholder is None:
            placeholder = self.names[attribute] = f"#n{len(self.names)}"
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_attribute(value)
        return placeholder

    def set_fact(self, fact: str, t: float, event_hash: str, value: Any) -> None:
        """SET f.<fact>, unless a fact learnt from a later event is stored (newest wins)."""
        n = self.name(f"f.{fact}")
        tv, ev = self.value(t), self.value(event_hash)
        self.conditions.append(
            f"(attribute_not_exists({n}) OR {n}.{self.name('t')} < {tv} OR ({n}.{self.name('t')} = {tv} AND {n}.{self.name('e')} < {ev}))"
        )
        self.set.append(f"{n} = {self.value({'v': value, 't': t, 'e': event_hash})}")

    def request(self) -> dict[str, Any]:
        """The UpdateItem parameters: expression, names, values and condition (when there is one)."""
        parts = []
        if self.set:
            parts.append("SET " + ", ".join(self.set))
        if self.add:
            parts.append("ADD " + ", ".join(self.add))
        if self.remove:
            parts.append("REMOVE " + ", ".join(self.remove))
        names = {v: k for k, v in self.names.items()}
        req: dict[str, Any] = {"UpdateExpression": " ".join(parts), "ExpressionAttributeNames": names}
        if self.values:
            req["ExpressionAttributeValues"] = self.values
        if self.conditions:
            req["ConditionExpression"] = " AND ".join(self.conditions)
        return req
