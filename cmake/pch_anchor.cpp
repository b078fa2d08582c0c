// The one source of a precompiled-header target (cmake/SluiceSettings.cmake,
// sluice_pch_target): the header is what the target is for.
