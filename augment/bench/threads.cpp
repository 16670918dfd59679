#include <opencv2/core.hpp>
#include "threads.h"

void pp_set_num_threads(int n) { cv::setNumThreads(n); }
int pp_get_num_threads(void) { return cv::getNumThreads(); }
