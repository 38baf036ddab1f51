#!/usr/bin/python3
"""Renders the digits 0-9 of each font as MNIST-like 28x28 grey images (used by
`hierglow data build-ood`; needs Debian's python3-pil).

    /usr/bin/python3 render-digits.py FONT_LIST OUT.bin

FONT_LIST holds one font file per line. For every font and digit, MNIST's recipe:
the glyph (white on black, rendered large and antialiased) is cropped to its bounding box,
scaled to fit a 20x20 box keeping its aspect ratio, pasted into a 28x28 field, and shifted
(by whole pixels) so that its centre of mass sits at the centre of the field.
OUT.bin receives 784 bytes per image (row-major); stdout one JSON line per image:
{"font": path, "digit": d}. Fonts without digit glyphs, and dingbat fonts, are skipped (reported on stderr).
"""
import json
import sys

from PIL import Image, ImageChops, ImageDraw, ImageFont

RENDER_SIZE = 160  # glyph size before the 20x20 fit: large, so the downscale antialiases
BOX = 20
FIELD = 28


def render(font, text):
    """The glyph of `text`, white on black, cropped to its ink; None without ink."""
    left, top, right, bottom = font.getbbox(text)
    w, h = right - left + 8, bottom - top + 8
    if w <= 8 or h <= 8:
        return None
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=255, font=font)
    box = img.getbbox()
    return img.crop(box) if box else None


def same_image(a, b):
    return a is not None and b is not None and a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def mnist_like(glyph):
    """Fit into 20x20 keeping the aspect ratio, paste into 28x28, centre the mass."""
    w, h = glyph.size
    scale = BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = glyph.resize(size, Image.LANCZOS)
    pixels = list(small.getdata())
    total = sum(pixels)
    if total == 0:
        return None
    cx = sum(v * (i % size[0]) for i, v in enumerate(pixels)) / total
    cy = sum(v * (i // size[0]) for i, v in enumerate(pixels)) / total
    field = Image.new("L", (FIELD, FIELD), 0)
    centre = (FIELD - 1) / 2
    field.paste(small, (round(centre - cx), round(centre - cy)))
    return field.tobytes()


def main():
    font_list, out_path = sys.argv[1], sys.argv[2]
    with open(font_list, encoding="utf-8") as f:
        fonts = [line.strip() for line in f if line.strip()]
    written = 0
    with open(out_path, "wb") as out:
        for path in fonts:
            try:
                font = ImageFont.truetype(path, RENDER_SIZE)
            except OSError as e:
                print(f"skipped {path}: {e}", file=sys.stderr)
                continue
            family = " ".join(font.getname())
            if "dingbat" in family.lower():
                # Dingbats fonts map the digit code points to pictograms.
                print(f"skipped {path}: {family} is a pictogram font", file=sys.stderr)
                continue
            # A font without digits draws its .notdef box (or nothing) for them: compare with a
            # code point no text font maps.
            missing = render(font, "\U0010FFFD")
            glyphs = [render(font, str(d)) for d in range(10)]
            if any(g is None or same_image(g, missing) for g in glyphs):
                print(f"skipped {path}: no glyphs for the digits", file=sys.stderr)
                continue
            for d, g in enumerate(glyphs):
                image = mnist_like(g)
                if image is None:
                    continue
                out.write(image)
                print(json.dumps({"font": path, "digit": d}))
                written += 1
    print(f"{written} digit images from {len(fonts)} fonts", file=sys.stderr)


if __name__ == "__main__":
    main()
