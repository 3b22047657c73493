"""Class names and colours travelling with the outputs: GeoTIFF colour table and QGIS QML styles."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr  # nosec B406 - escapes attribute values written into QML; parses no XML


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def color_table(colors: list[str]) -> dict[int, tuple[int, int, int, int]]:
    table = {i: (*hex_to_rgb(c), 255) for i, c in enumerate(colors)}
    table[255] = (0, 0, 0, 0)
    return table


_MIN_MAX_ORIGIN = """      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>"""


def _raster_qml(renderer_attrs: str, body: str) -> str:
    """One raster renderer in the QML document QGIS 3.22 writes itself (neutral pipe settings)."""
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer {renderer_attrs} band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
{_MIN_MAX_ORIGIN}
{body}
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def classes_qml(names: list[str], colors: list[str]) -> str:
    """A paletted renderer: class id -> name and colour, as QGIS's layer styling shows it."""
    entries = "\n".join(
        f'        <paletteEntry value="{i}" color={quoteattr(c)} label={quoteattr(n)} alpha="255"/>'
        for i, (n, c) in enumerate(zip(names, colors))
    )
    body = f"""      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>"""
    return _raster_qml('type="paletted"', body)


def confidence_qml(low: float = 0.0, high: float = 1.0) -> str:
    """Pseudo-colour 0..1: red where the model is unsure, green where it is sure."""
    stops = [(low, "#d7191c", "unsure"), ((low + high) / 2, "#ffffbf", "medium"), (high, "#1a9641", "sure")]
    items = "\n".join(
        f'            <item value="{v}" color="{c}" label="{lab} ({v:.2f})" alpha="255"/>' for v, c, lab in stops
    )
    body = f"""      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="{low}" maximumValue="{high}">
{items}
        </colorrampshader>
      </rastershader>"""
    return _raster_qml(f'type="singlebandpseudocolor" classificationMin="{low}" classificationMax="{high}"', body)


def seismic_qml(limit: float) -> str:
    """Amplitudes in the seismic red-white-blue ramp, stretched symmetrically: -limit red, 0 white,
    +limit blue, so that zero crossings stay white whatever the section's mean."""
    stops = [(-limit, "#b2182b"), (0.0, "#ffffff"), (limit, "#2166ac")]
    items = "\n".join(f'            <item value="{v:g}" color="{c}" label="{v:g}" alpha="255"/>' for v, c in stops)
    body = f"""      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="{-limit:g}" maximumValue="{limit:g}">
{items}
        </colorrampshader>
      </rastershader>"""
    return _raster_qml(f'type="singlebandpseudocolor" classificationMin="{-limit:g}" classificationMax="{limit:g}"', body)


def _fill_symbol(name: str, fill_rgba: str, outline_rgba: str, outline_mm: float, style: str) -> str:
    """One QGIS fill symbol: `style` "solid" fills with `fill_rgba`, "no" draws the outline only."""
    return f"""      <symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">
        <layer class="SimpleFill" enabled="1" locked="0" pass="0">
          <Option type="Map">
            <Option name="color" type="QString" value="{fill_rgba}"/>
            <Option name="outline_color" type="QString" value="{outline_rgba}"/>
            <Option name="outline_style" type="QString" value="solid"/>
            <Option name="outline_width" type="QString" value="{outline_mm:g}"/>
            <Option name="outline_width_unit" type="QString" value="MM"/>
            <Option name="style" type="QString" value="{style}"/>
          </Option>
        </layer>
      </symbol>"""


def polygons_qml(names: list[str], colors: list[str]) -> str:
    """A categorized fill on `class_id`, the class raster's colours and names, thin dark outlines."""
    categories = "\n".join(
        f'      <category value="{i}" symbol="{i}" label={quoteattr(n)} render="true"/>' for i, n in enumerate(names)
    )
    symbols = "\n".join(
        _fill_symbol(str(i), ",".join(map(str, hex_to_rgb(c))) + ",255", "35,35,35,255", 0.2, "solid") for i, c in enumerate(colors)
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology">
  <renderer-v2 type="categorizedSymbol" attr="class_id" symbollevels="0" enableorderby="0" forceraster="0">
    <categories>
{categories}
    </categories>
    <symbols>
{symbols}
    </symbols>
  </renderer-v2>
</qgis>
"""


SUGGESTION_COLOR = "230,0,180"  # magenta: seen over any class palette and any raster


def suggestions_qml() -> str:
    """Outlines of the suggested regions, each labelled with its rank (1 = label here first)."""
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology|Labeling" labelsEnabled="1">
  <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">
    <symbols>
{_fill_symbol("0", SUGGESTION_COLOR + ",0", SUGGESTION_COLOR + ",255", 0.7, "no")}
    </symbols>
  </renderer-v2>
  <labeling type="simple">
    <settings calloutType="simple">
      <text-style fieldName="rank" isExpression="0" fontSize="11" fontSizeUnit="Point" fontWeight="75" textColor="{SUGGESTION_COLOR},255" textOpacity="1"/>
      <text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" bufferOpacity="1"/>
      <placement placement="1" offsetType="0"/>
      <rendering obstacle="0" displayAll="1"/>
    </settings>
  </labeling>
</qgis>
"""
