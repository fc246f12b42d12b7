CREATE TEMP TABLE IF NOT EXISTS _import_mpp (LIKE mpp_measurement INCLUDING DEFAULTS);
CREATE TEMP TABLE IF NOT EXISTS _import_temperature (LIKE temperature_measurement INCLUDING DEFAULTS);
CREATE TEMP TABLE IF NOT EXISTS _import_irradiance (LIKE irradiance_measurement INCLUDING DEFAULTS);
