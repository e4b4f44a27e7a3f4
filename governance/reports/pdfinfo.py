"""Read a rendered report back: text per page, fonts, PDF/A identification,
embedded files. Used by the tests and by anyone checking a report by hand.

No Django imports. Text is extracted the way a PDF reader does it: walk each
page's content stream (and the form XObjects it draws, which is where the
"Page X of N" overlay of a chunked report lives), follow the text-showing
operators and map the glyph codes back to Unicode through each font's
``/ToUnicode`` CMap. Every text object (BT ... ET) becomes one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf

_HEX = r"<([0-9A-Fa-f]+)>"
_CODESPACE = re.compile(r"begincodespacerange(.*?)endcodespacerange", re.S)
_BFCHAR = re.compile(r"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(r"beginbfrange(.*?)endbfrange", re.S)
_MAX_DEPTH = 8


def _utf16(hexstr: str) -> str:
    return bytes.fromhex(hexstr).decode("utf-16-be", errors="replace")


@dataclass
class _Font:
    code_bytes: int
    to_unicode: dict[int, str]

    def decode(self, raw: bytes) -> str:
        n = self.code_bytes
        out = []
        for i in range(0, len(raw) - n + 1, n):
            code = int.from_bytes(raw[i : i + n], "big")
            out.append(self.to_unicode.get(code, "\ufffd"))
        return "".join(out)


def _parse_cmap(data: bytes) -> _Font:
    text = data.decode("latin-1")
    code_bytes = 1
    if match := _CODESPACE.search(text):
        first = re.search(_HEX, match.group(1))
        if first:
            code_bytes = max(1, len(first.group(1)) // 2)
    mapping: dict[int, str] = {}
    for block in _BFCHAR.findall(text):
        for src, dst in re.findall(_HEX + r"\s*" + _HEX, block):
            mapping[int(src, 16)] = _utf16(dst)
    for block in _BFRANGE.findall(text):
        for lo, hi, rest in re.findall(
            _HEX + r"\s*" + _HEX + r"\s*(<[0-9A-Fa-f]+>|\[[^\]]*\])", block
        ):
            start, end = int(lo, 16), int(hi, 16)
            if rest.startswith("["):
                for offset, dst in enumerate(re.findall(_HEX, rest)):
                    mapping[start + offset] = _utf16(dst)
            else:
                base = bytes.fromhex(rest[1:-1])
                prefix, last = base[:-2], int.from_bytes(base[-2:], "big")
                for offset in range(end - start + 1):
                    mapping[start + offset] = (
                        prefix + (last + offset).to_bytes(2, "big")
                    ).decode("utf-16-be", errors="replace")
    return _Font(code_bytes, mapping)


class _Extractor:
    def __init__(self) -> None:
        self._fonts: dict[Any, _Font] = {}

    def font(self, font: Any) -> _Font:
        key = font.objgen if font.is_indirect else id(font)
        if key not in self._fonts:
            if "/ToUnicode" in font:
                self._fonts[key] = _parse_cmap(font.ToUnicode.read_bytes())
            else:  # simple font without a CMap: assume Latin-1 codes
                two = font.get("/Subtype") == pikepdf.Name.Type0
                self._fonts[key] = _Font(
                    2 if two else 1, {i: chr(i) for i in range(256)}
                )
        return self._fonts[key]

    def lines(self, stream: Any, resources: Any, depth: int = 0) -> list[str]:
        if depth > _MAX_DEPTH:
            return []
        lines: list[str] = []
        current: list[str] = []
        font: _Font | None = None
        fonts = resources.get("/Font", {}) if resources is not None else {}
        xobjects = resources.get("/XObject", {}) if resources is not None else {}
        for instruction in pikepdf.parse_content_stream(stream):
            operands, op = instruction.operands, str(instruction.operator)
            if op == "BT":
                current = []
            elif op == "ET":
                lines.append("".join(current))
                current = []
            elif op == "Tf":
                name = operands[0]
                font = self.font(fonts[name]) if name in fonts else None
            elif op in ("Tj", "'", '"') and font is not None:
                current.append(font.decode(bytes(operands[-1])))
            elif op == "TJ" and font is not None:
                for item in operands[0]:
                    if isinstance(item, pikepdf.String):
                        current.append(font.decode(bytes(item)))
                    elif float(item) < -250:  # a large positive shift is a word gap
                        current.append(" ")
            elif op == "Do":
                xobject = xobjects.get(operands[0])
                if xobject is not None and xobject.get("/Subtype") == pikepdf.Name.Form:
                    lines.extend(
                        self.lines(
                            xobject, xobject.get("/Resources", resources), depth + 1
                        )
                    )
        return lines


def page_lines(pdf: pikepdf.Pdf) -> list[list[str]]:
    """For each page, the text of each text object drawn on it (in drawing order)."""
    extractor = _Extractor()
    return [extractor.lines(page.obj, page.obj.get("/Resources")) for page in pdf.pages]


def page_texts(pdf: pikepdf.Pdf) -> list[str]:
    return ["\n".join(lines) for lines in page_lines(pdf)]


@dataclass(frozen=True)
class FontInfo:
    name: str
    subtype: str
    embedded: bool


def _descriptor_embeds(descriptor: Any) -> bool:
    return descriptor is not None and any(
        k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")
    )


def fonts(pdf: pikepdf.Pdf) -> list[FontInfo]:
    """Every font dictionary in the file and whether its program is embedded."""
    found = []
    for obj in pdf.objects:
        if (
            not isinstance(obj, pikepdf.Dictionary)
            or obj.get("/Type") != pikepdf.Name.Font
        ):
            continue
        subtype = str(obj.get("/Subtype", ""))
        if subtype == "/Type3":
            embedded = True  # glyphs are content streams inside the font itself
        elif subtype == "/Type0":
            descendants: Any = obj.get("/DescendantFonts")
            embedded = bool(descendants) and _descriptor_embeds(
                descendants[0].get("/FontDescriptor")
            )
        else:
            embedded = _descriptor_embeds(obj.get("/FontDescriptor"))
        found.append(FontInfo(str(obj.get("/BaseFont", "")), subtype, embedded))
    return found


def pdfa_identification(pdf: pikepdf.Pdf) -> tuple[str | None, str | None]:
    """(pdfaid:part, pdfaid:conformance) as declared in the XMP packet."""
    meta = pdf.open_metadata(set_pikepdf_as_editor=False)
    return meta.get("pdfaid:part"), meta.get("pdfaid:conformance")


@dataclass(frozen=True)
class EmbeddedFile:
    name: str
    content: bytes
    mime_type: str
    relationship: str
    description: str
    in_catalog_af: bool


def embedded_files(pdf: pikepdf.Pdf) -> dict[str, EmbeddedFile]:
    """Attachments with their MIME type, AFRelationship and whether the
    catalogue's /AF array lists them (PDF/A-3 associated files)."""
    af = pdf.Root.get("/AF", pikepdf.Array())
    af_ids = {item.objgen for item in af}
    out = {}
    for name, spec in pdf.attachments.items():
        stream = spec.obj.EF.F
        out[name] = EmbeddedFile(
            name=name,
            content=stream.read_bytes(),
            mime_type=str(stream.get("/Subtype", "")).lstrip("/").replace("#2f", "/"),
            relationship=str(spec.obj.get("/AFRelationship", "")).lstrip("/"),
            description=str(spec.obj.get("/Desc", "")),
            in_catalog_af=spec.obj.objgen in af_ids,
        )
    return out


def open_pdf(path: Path | str) -> pikepdf.Pdf:
    return pikepdf.open(path)
