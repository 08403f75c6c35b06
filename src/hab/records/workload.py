"""Workloads and their parameters as the engine describes them (its
`describe` record); a run stores the description of the workloads it used."""

from dataclasses import dataclass

from hab.records import fields as f

KINDS = ("int", "size", "float", "choice")


@dataclass(frozen=True)
class ParamInfo:
    """One workload parameter: `int` and `size` are integers, `float` a number,
    `choice` one of `choices`. `default` may be a formula such as `2*threads`."""

    name: str
    kind: str
    about: str
    default: int | float | str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "about": self.about, "default": self.default}
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        else:
            out["min"], out["max"] = self.min, self.max
        return out

    @classmethod
    def from_dict(cls, data, where: str) -> "ParamInfo":
        f.table(data, where)
        kind = f.text(data.get("kind"), f"{where}.kind")
        if kind not in KINDS:
            raise f.RecordError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        default = data.get("default")
        if isinstance(default, bool) or not isinstance(default, (int, float, str)):
            raise f.RecordError(f"{where}.default: expected a number or a string")
        common = dict(
            name=f.text(data.get("name"), f"{where}.name"),
            kind=kind,
            about=f.text(data.get("about"), f"{where}.about"),
            default=default,
        )
        if kind == "choice":
            return cls(**common, choices=f.texts(data.get("choices"), f"{where}.choices"))
        return cls(
            **common, min=f.number(data.get("min"), f"{where}.min"), max=f.number(data.get("max"), f"{where}.max")
        )


@dataclass(frozen=True)
class WorkloadInfo:
    """A workload as the engine describes it."""

    name: str
    about: str
    has_dry: bool
    params: tuple[ParamInfo, ...]

    def param(self, name: str) -> ParamInfo | None:
        return next((p for p in self.params if p.name == name), None)

    def to_dict(self) -> dict:
        """What a run stores of it (keyed by name)."""
        return {"about": self.about, "params": [p.to_dict() for p in self.params]}

    @classmethod
    def from_describe(cls, data, where: str) -> "WorkloadInfo":
        """One entry of the engine's `describe` record."""
        f.table(data, where)
        return cls.from_dict(
            f.text(data.get("name"), f"{where}.name"), data, where, f.flag(data.get("has_dry"), f"{where}.has_dry")
        )

    @classmethod
    def from_dict(cls, name: str, data, where: str, has_dry: bool = True) -> "WorkloadInfo":
        f.table(data, where)
        params = f.items(data.get("params"), f"{where}.params")
        return cls(
            name,
            f.text(data.get("about"), f"{where}.about"),
            has_dry,
            tuple(ParamInfo.from_dict(p, f"{where}.params[{i}]") for i, p in enumerate(params)),
        )
