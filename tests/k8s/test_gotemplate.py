"""The Go-template subset the chart uses, against what Go's text/template and Sprig produce."""

from __future__ import annotations

from typing import Any

import pytest

from fastgw.k8s.gotemplate import Renderer, TemplateError


def render(text: str, data: Any = None, defines: str = "") -> str:
    r = Renderer()
    if defines:
        r.add(defines, "_helpers.tpl")
    return r.render(r.add(text, "t"), data if data is not None else {})


def test_trim_markers_and_comments() -> None:
    assert render("a  {{- 1 -}}  \n b") == "a1b"
    assert render("a {{/* note */}}b") == "a b"
    assert render("x\n{{- if true }}\ny{{ end }}") == "x\ny"


def test_fields_variables_and_missing_values() -> None:
    data = {"Values": {"a": {"b": 2}, "s": "x"}}
    assert render("{{ .Values.a.b }}-{{ .Values.missing }}-{{ $.Values.s }}", data) == "2--x"
    with pytest.raises(TemplateError, match=r"nil pointer evaluating \.Values\.missing\.x"):
        render("{{ .Values.missing.x }}", data)
    assert render("{{ $x := .Values.s }}{{ $x }}{{ $x = 3 }}{{ $x }}", data) == "x3"


def test_if_else_if_with_and_range() -> None:
    tpl = "{{ if eq .n 1 }}one{{ else if eq .n 2 }}two{{ else }}many{{ end }}"
    assert [render(tpl, {"n": n}) for n in (1, 2, 5)] == ["one", "two", "many"]
    assert render("{{ with .a }}[{{ . }}]{{ else }}none{{ end }}", {"a": ""}) == "none"
    assert render("{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}", {"l": ["a", "b"]}) == "0=a;1=b;"
    assert render("{{ range $k, $v := .m }}{{ $k }}:{{ $v }} {{ end }}", {"m": {"b": 2, "a": 1}}) == "a:1 b:2 "
    assert render("{{ range .l }}{{ . }}{{ else }}empty{{ end }}", {"l": []}) == "empty"
    assert render("{{ range .l }}{{ $.p }}{{ . }}{{ end }}", {"l": [1, 2], "p": "-"}) == "-1-2"


def test_functions_and_pipelines() -> None:
    data = {"m": {"b": [1, 2], "a": {"c": "d"}}, "s": "fastgw-chart-", "z": 0}
    assert render("{{ toYaml .m | nindent 2 }}", data) == "\n  a:\n    c: d\n  b:\n  - 1\n  - 2"
    assert render('{{ .s | trimSuffix "-" | trunc 6 | quote }}', data) == '"fastgw"'
    assert render('{{ default "x" .z }} {{ default "x" .s }}', data) == "x fastgw-chart-"
    assert render('{{ printf "%s-%d" "a" 5 }} {{ add 30 15 }} {{ int "7" }}', data) == "a-5 45 7"
    assert render("{{ and .z .missing.x }}|{{ or .s .missing.x }}", data) == "0|fastgw-chart-"  # short-circuit
    assert render('{{ (dict "a" 1 "b" (list 1 2)) | toJson }}', data) == '{"a":1,"b":[1,2]}'
    assert render('{{ merge (dict "a" 1) (dict "a" 2 "b" 3) | toJson }}', data) == '{"a":1,"b":3}'
    assert render('{{ ternary "y" "n" (eq 1 1) }}{{ if not .z }}!{{ end }}', data) == "y!"


def test_define_and_include() -> None:
    defines = '{{- define "name" -}}{{ .Release.Name }}-x{{- end -}}'
    assert render('{{ include "name" . | upper }}', {"Release": {"Name": "r"}}, defines) == "R-X"
    assert render('{{ template "name" . }}', {"Release": {"Name": "r"}}, defines) == "r-x"


def test_errors_are_template_errors() -> None:
    with pytest.raises(TemplateError, match="not defined"):
        render("{{ nosuch 1 }}")
    with pytest.raises(TemplateError, match="must be set"):
        render('{{ required "must be set" .x }}')
    with pytest.raises(TemplateError, match="without end"):
        render("{{ if true }}x")
