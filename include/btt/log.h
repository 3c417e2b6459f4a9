/* btt/log.h - leveled logging to stderr. Cheap when the level is filtered out. */
#ifndef BTT_LOG_H
#define BTT_LOG_H

typedef enum { BTT_LOG_ERROR, BTT_LOG_WARN, BTT_LOG_INFO, BTT_LOG_DEBUG } btt_log_level;

void btt_log_set_level(btt_log_level lvl);
btt_log_level btt_log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int btt_log_parse_level(const char *s);
void btt_log(btt_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define BTT_LOGE(mod, ...) btt_log(BTT_LOG_ERROR, mod, __VA_ARGS__)
#define BTT_LOGW(mod, ...) btt_log(BTT_LOG_WARN, mod, __VA_ARGS__)
#define BTT_LOGI(mod, ...) btt_log(BTT_LOG_INFO, mod, __VA_ARGS__)
#define BTT_LOGD(mod, ...)                                                 \
    do {                                                                   \
        if (btt_log_get_level() >= BTT_LOG_DEBUG) btt_log(BTT_LOG_DEBUG, mod, __VA_ARGS__); \
    } while (0)

#endif
