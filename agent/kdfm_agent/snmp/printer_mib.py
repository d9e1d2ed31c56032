"""Object identifiers and enumerations of the MIBs every printer speaks (RFC 3805, 2790, 1213).

Names follow the RFC textual conventions (PrtMarkerSuppliesTypeTC, PrtAlertCodeTC, ...).
"""

from __future__ import annotations

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_CONTACT = "1.3.6.1.2.1.1.4.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
SYSTEM_SCALARS = (SYS_DESCR, SYS_OBJECT_ID, SYS_CONTACT, SYS_NAME, SYS_LOCATION)

IF_PHYS_ADDRESS = "1.3.6.1.2.1.2.2.1.6"

HR_DEVICE_GROUP = "1.3.6.1.2.1.25.3"
HR_DEVICE_TYPE = "1.3.6.1.2.1.25.3.2.1.2"
HR_DEVICE_PRINTER = "1.3.6.1.2.1.25.3.1.5"
HR_DEVICE_STATUS = "1.3.6.1.2.1.25.3.2.1.5"
HR_PRINTER_STATUS = "1.3.6.1.2.1.25.3.5.1.1"
HR_PRINTER_ERROR_STATE = "1.3.6.1.2.1.25.3.5.1.2"
HR_PRINTER_TABLE = "1.3.6.1.2.1.25.3.5"

PRINTER_MIB = "1.3.6.1.2.1.43"
PRT_INPUT_ENTRY = "1.3.6.1.2.1.43.8.2.1"
PRT_MARKER_ENTRY = "1.3.6.1.2.1.43.10.2.1"
PRT_SUPPLIES_ENTRY = "1.3.6.1.2.1.43.11.1.1"
PRT_COLORANT_ENTRY = "1.3.6.1.2.1.43.12.1.1"
PRT_ALERT_ENTRY = "1.3.6.1.2.1.43.18.1.1"

# Column numbers inside the entries above.
MARKER_COUNTER_UNIT, MARKER_LIFE_COUNT, MARKER_POWER_ON_COUNT = 3, 4, 5
SUPPLY_COLORANT_INDEX, SUPPLY_CLASS, SUPPLY_TYPE, SUPPLY_DESCRIPTION = 3, 4, 5, 6
SUPPLY_UNIT, SUPPLY_MAX_CAPACITY, SUPPLY_LEVEL = 7, 8, 9
COLORANT_VALUE = 4
INPUT_TYPE, INPUT_CAPACITY_UNIT, INPUT_MAX_CAPACITY, INPUT_LEVEL = 2, 8, 9, 10
INPUT_MEDIA_NAME, INPUT_NAME, INPUT_DESCRIPTION = 12, 13, 18
ALERT_SEVERITY, ALERT_TRAINING, ALERT_GROUP, ALERT_GROUP_INDEX = 2, 3, 4, 5
ALERT_LOCATION, ALERT_CODE, ALERT_DESCRIPTION, ALERT_TIME = 6, 7, 8, 9

SUPPLY_TYPES = {
    1: "other", 2: "unknown", 3: "toner", 4: "wasteToner", 5: "ink", 6: "inkCartridge",
    7: "inkRibbon", 8: "wasteInk", 9: "opc", 10: "developer", 11: "fuserOil", 12: "solidWax",
    13: "ribbonWax", 14: "wasteWax", 15: "fuser", 16: "coronaWire", 17: "fuserOilWick",
    18: "cleanerUnit", 19: "fuserCleaningPad", 20: "transferUnit", 21: "tonerCartridge",
    22: "fuserOiler", 23: "water", 24: "wasteWater", 25: "glueWaterAdditive", 26: "wastePaper",
    27: "bindingSupply", 28: "bandingSupply", 29: "stitchingWire", 30: "shrinkWrap",
    31: "paperWrap", 32: "staples", 33: "inserts", 34: "covers", 35: "matteToner", 36: "matteInk",
}  # fmt: skip

SUPPLY_UNITS = {
    1: "other", 2: "unknown", 3: "tenThousandthsOfInches", 4: "micrometers", 7: "impressions",
    8: "sheets", 11: "hours", 12: "thousandthsOfOunces", 13: "tenthsOfGrams",
    14: "hundrethsOfFluidOunces", 15: "tenthsOfMilliliters", 16: "feet", 17: "meters",
    18: "items", 19: "percent",
}  # fmt: skip

MARKER_COUNTER_UNITS = {
    3: "tenThousandthsOfInches", 4: "micrometers", 5: "characters", 6: "lines",
    7: "impressions", 8: "sheets", 9: "dotRow", 11: "hours", 16: "feet", 17: "meters",
}  # fmt: skip

INPUT_TYPES = {
    1: "other", 2: "unknown", 3: "sheetFeedAutoRemovableTray", 4: "sheetFeedAutoNonRemovableTray",
    5: "sheetFeedManual", 6: "continuousRoll", 7: "continuousFanFold",
}  # fmt: skip

MEDIA_UNITS = {
    3: "tenThousandthsOfInches", 4: "micrometers", 8: "sheets", 16: "feet", 17: "meters",
    18: "items", 19: "percent",
}  # fmt: skip

ALERT_SEVERITIES = {
    1: "other", 3: "critical", 4: "warning", 5: "warningBinaryChangeEvent",
}  # fmt: skip

ALERT_TRAINING_LEVELS = {
    1: "other", 2: "unknown", 3: "untrained", 4: "trained", 5: "fieldService", 6: "management",
    7: "noInterventionRequired",
}  # fmt: skip

ALERT_GROUPS = {
    1: "other", 3: "hostResourcesMIBStorageTable", 4: "hostResourcesMIBDeviceTable",
    5: "generalPrinter", 6: "cover", 7: "localization", 8: "input", 9: "output", 10: "marker",
    11: "markerSupplies", 12: "markerColorant", 13: "mediaPath", 14: "channel",
    15: "interpreter", 16: "consoleDisplayBuffer", 17: "consoleLights", 18: "alert",
    30: "finDevice", 31: "finSupply", 32: "finSupplyMediaInput", 33: "finAttribute",
}  # fmt: skip

ALERT_CODES = {
    1: "other", 2: "unknown", 3: "coverOpen", 4: "coverClosed", 5: "interlockOpen",
    6: "interlockClosed", 7: "configurationChange", 8: "jam", 9: "subunitMissing",
    10: "subunitLifeAlmostOver", 11: "subunitLifeOver", 12: "subunitAlmostEmpty",
    13: "subunitEmpty", 14: "subunitAlmostFull", 15: "subunitFull", 16: "subunitNearLimit",
    17: "subunitAtLimit", 18: "subunitOpened", 19: "subunitClosed", 20: "subunitTurnedOn",
    21: "subunitTurnedOff", 22: "subunitOffline", 23: "subunitPowerSaver",
    24: "subunitWarmingUp", 25: "subunitAdded", 26: "subunitRemoved",
    27: "subunitResourceAdded", 28: "subunitResourceRemoved",
    29: "subunitRecoverableFailure", 30: "subunitUnrecoverableFailure",
    31: "subunitRecoverableStorageError", 32: "subunitUnrecoverableStorageError",
    33: "subunitMotorFailure", 34: "subunitMemoryExhausted", 35: "subunitUnderTemperature",
    36: "subunitOverTemperature", 37: "subunitTimingFailure", 38: "subunitThermistorFailure",
    501: "doorOpen", 502: "doorClosed", 503: "poweredUp", 504: "poweredDown",
    505: "printerNMSReset", 506: "printerManualReset", 507: "printerReadyToPrint",
    801: "inputMediaTrayMissing", 802: "inputMediaSizeChange", 803: "inputMediaWeightChange",
    804: "inputMediaTypeChange", 805: "inputMediaColorChange", 806: "inputMediaFormPartsChange",
    807: "inputMediaSupplyLow", 808: "inputMediaSupplyEmpty", 809: "inputMediaChangeRequest",
    810: "inputManualInputRequest", 811: "inputTrayPositionFailure",
    812: "inputTrayElevationFailure", 813: "inputCannotFeedSizeSelected",
    901: "outputMediaTrayMissing", 902: "outputMediaTrayAlmostFull", 903: "outputMediaTrayFull",
    904: "outputMailboxSelectFailure", 1001: "markerFuserUnderTemperature",
    1002: "markerFuserOverTemperature", 1003: "markerFuserTimingFailure",
    1004: "markerFuserThermistorFailure", 1005: "markerAdjustingPrintQuality",
    1101: "markerTonerEmpty", 1102: "markerInkEmpty", 1103: "markerPrintRibbonEmpty",
    1104: "markerTonerAlmostEmpty", 1105: "markerInkAlmostEmpty",
    1106: "markerPrintRibbonAlmostEmpty", 1107: "markerWasteTonerReceptacleAlmostFull",
    1108: "markerWasteInkReceptacleAlmostFull", 1109: "markerWasteTonerReceptacleFull",
    1110: "markerWasteInkReceptacleFull", 1111: "markerOpcLifeAlmostOver",
    1112: "markerOpcLifeOver", 1113: "markerDeveloperAlmostEmpty", 1114: "markerDeveloperEmpty",
    1115: "markerTonerCartridgeMissing", 1301: "mediaPathMediaTrayMissing",
    1302: "mediaPathMediaTrayAlmostFull", 1303: "mediaPathMediaTrayFull",
    1304: "mediaPathCannotDuplexMediaSelected", 1501: "interpreterMemoryIncrease",
    1502: "interpreterMemoryDecrease", 1503: "interpreterCartridgeAdded",
    1504: "interpreterCartridgeDeleted", 1505: "interpreterResourceAdded",
    1506: "interpreterResourceDeleted", 1507: "interpreterResourceUnavailable",
    1509: "interpreterComplexPageEncountered", 1801: "alertRemovalOfBinaryChangeEntry",
}  # fmt: skip

COLOURS = (
    "matte black", "photo black", "light black", "light light black", "light cyan",
    "light magenta", "black", "cyan", "magenta", "yellow", "red", "green", "blue", "gray",
    "grey", "orange", "violet", "white", "clear", "gold", "silver",
)  # fmt: skip
"""Colour words looked for in a supply description when the colorant table has none; longest
first so "light cyan" wins over "cyan"."""
