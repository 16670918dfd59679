#ifdef __cplusplus
extern "C" {
#endif
void pp_set_num_threads(int n);
int pp_get_num_threads(void);
#ifdef __cplusplus
}
#endif
