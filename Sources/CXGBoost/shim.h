// XGBoost's C API, from the system's libxgboost-dev (Debian: /usr/include/xgboost/c_api.h).
#include <xgboost/c_api.h>
