"""Checklists of the seed forms, written from the seed texts (not from the definitions).

Each list is a form's labels in the seed's order (../shared/seeds/000, 001, 004), per program and
form variant (None: the program has one form). How a seed cell becomes a label:
- the unit in brackets is dropped ("总资产（万元）" → 总资产): definitions carry it as `unit`;
- a grid cell named by its group is group + cell ("联系人" · "姓名" → 联系人姓名);
- a cell that holds two values names both ("一级表具监测点数及接入率" → 一级表具监测点数,
  一级表具接入率; "开竣工时间" → 开竣工时间（开工）, 开竣工时间（竣工）);
- a table's label is followed by its fixed row labels, then its column labels;
- a long-text box is named by its heading (the prompt in brackets is its help).
Comparison ignores whitespace (the seeds space out some headings: "申 报 企 业").
"""

from __future__ import annotations

# -- 000 Henan 2023: 附件1 申报书 ----------------------------------------------------------------
HENAN_DCMC_2023 = [
    # 封面
    "申报企业", "申报日期",
    # 一、基本信息表 · 企业基本信息
    "企业名称", "所属行业", "成立时间", "主要产品", "统一社会信用代码", "单位地址",
    "联系人姓名", "联系人电话", "联系人职务", "联系人手机", "联系人传真", "联系人E-mail",
    "企业负责人姓名", "企业负责人职务", "企业负责人电话",
    # 近三年主要经济指标 2020年 2021年 2022年
    "近三年主要经济指标", "2020年", "2021年", "2022年",
    "总资产", "总负债", "资产负债率", "营业收入", "利润", "税金",
    # 能碳管理中心基本信息
    "能碳管理中心名称", "能碳管理中心建设软硬件投资", "能碳管理中心建设开始时间", "能碳管理中心建成投运时间",
    "是否与政府部门能耗在线监测系统联网", "能碳管理中心总体描述",
    "能碳源数据采集网络", "信息安全建设情况",
    "重点设备节能优化控制", "能碳数据综合管理", "企业数字化碳体系管理", "系统集成与对外接口",
    "能碳调度中心基础设施", "配套管理体系",
    # 能碳管控中心建设前后经济、社会效益情况
    "数字化能碳管控中心建设前后经济、社会效益情况总体描述",
    "建设完成前能源消耗总量", "建设完成后能源消耗总量",
    "建设完成前碳排放总量", "建设完成后碳排放总量",
    "建设完成前能源消耗强度", "建设完成后能源消耗强度",
    "建设完成前碳排放强度", "建设完成后碳排放强度",
    "申报单位真实性承诺",
    "推荐意见",
    # 二、申报企业情况概述
    "申报企业概况", "产品介绍", "行业优势",
    # 三、数字化能碳管理中心具体情况介绍
    "数字化能碳管理中心建设详情", "数字化能碳管理中心建设前后社会、经济、环境效益对比",
]
HENAN_DCMC_2023_ATTACHMENTS = [
    "营业执照", "财务审计报告", "称号证明文件", "照片", "屏幕截图",
]
HENAN_DCMC_2023_SUMMARY = ["序号", "能碳管理中心名称", "所属企业名称", "所在县区", "行业", "备注"]

# -- 001 Shanghai 2024: 附件2 申请表 and 申请报告, the commitment, 附件3 -------------------------------
_SHANGHAI_FORM_HEAD = [
    # 一、申报(投资)主体基本情况
    "单位名称", "单位法人", "性质", "所属行业", "地址", "所属地区", "负责人", "联系方式",
    "开竣工时间（开工）", "开竣工时间（竣工）", "用能单位上年度综合能耗", "年总产值",
    # 二、申报项目基本情况
    "项目总投资", "工程建设", "能源计量数据采集上传设备", "软件", "其他",
    "一级表具监测点数", "一级表具接入率", "二级表具监测点数", "二级表具接入率",
    "三级表具监测点数", "三级表具接入率",
]
_SHANGHAI_PARK_ROW = [
    "园区综合能耗2000tce以上企业数量", "接入平台企业数量", "接入平台企业占比",
    "接入平台企业总能耗", "接入平台企业总能耗占比",
]
_SHANGHAI_FORM_TAIL = [
    # 三、能源管理中心建设情况
    "能源管理制度建设", "计量体系", "在线监测", "软件平台", "系统应用", "其他",
    "申报单位意见", "上级主管部门意见",
]


def _shanghai_report(unit: str, status: str) -> list[str]:
    return [
        unit, "第三方机构基本情况",  # 第一章 (with its 注)
        "项目基本情况",  # 第二章
        status,  # 第三章
        "能源在线监测", "软件平台功能",  # 第四章 1., 2.
        "系统应用效果",  # 第五章
        "下一步计划",  # 第六章
    ]


_SHANGHAI_AFTER_REPORT = [
    "申报材料真实性承诺",  # 附件2 附件 6 / 四（五）
    # 附件3: 本人×××为×××××公司的法人代表/××××项目的负责人 … 特此授权。姓名 身份证号码
    "法人代表/项目负责人", "特此授权", "姓名", "身份证号码",
]
SHANGHAI_EMC_2024: dict[str | None, list[str]] = {
    "enterprise": [*_SHANGHAI_FORM_HEAD, *_SHANGHAI_FORM_TAIL,
                   *_shanghai_report("企业申报单位基本情况", "企业能源管理现状"), *_SHANGHAI_AFTER_REPORT],
    "park": [*_SHANGHAI_FORM_HEAD, *_SHANGHAI_PARK_ROW, *_SHANGHAI_FORM_TAIL,
             *_shanghai_report("园区申报单位基本情况", "园区能源管理现状"), *_SHANGHAI_AFTER_REPORT],
}
SHANGHAI_EMC_2024_ATTACHMENTS = [
    "营业执照扫描件", "设备清单", "建设合同", "项目竣工验收报告", "项目实际投资证明材料", "专项审计报告",
    "申报材料真实性承诺书", "信用查询授权书",
]
SHANGHAI_COVER = ["申报企业", "项目名称", "日期"]  # 附件4 四、2

# -- 004 Henan 2025 contest: the three 申报表 of 附件1 -------------------------------------------
_CONTEST_UNIT_MAKER = [
    "单位名称", "单位地址", "所属行业", "主要产品", "单位性质", "2024年工业总产值", "员工人数",
    "法定代表人姓名", "法定代表人电话", "电子邮箱", "传真", "单位简介",
]
HENAN_CONTEST_2025: dict[str | None, list[str]] = {
    "technology": [
        "申报单位", "技术名称", "赛道方向", "联系人", "联系电话",
        *_CONTEST_UNIT_MAKER,
        # 二、申报技术基本情况
        "技术名称", "技术类别", "技术所处阶段", "适用范围", "知识产权情况", "技术原理及创新点", "技术实用性",
        "示范性、可复制性",
        # 三、依托项目/案例情况
        "依托项目/案例名称", "依托项目/案例内容", "技术应用前后取得的社会、经济、环境效益",
        "承诺申明",
    ],
    "product": [
        "申报单位", "产品名称", "产品型号", "联系人", "联系电话",
        *_CONTEST_UNIT_MAKER,
        # 二、申报产品基本情况
        "产品名称", "产品型号", "产品功能和主要技术参数", "资源属性", "能源属性", "环境属性", "品质属性",
        "低碳属性",
        "承诺申明",
    ],
    "service_case": [
        "申报单位", "案例名称", "联系人", "联系电话",
        "单位名称", "单位地址", "单位性质", "2024年服务企业数量", "员工人数",
        "法定代表人姓名", "法定代表人电话", "单位简介",
        # 二、服务案例基本情况
        "服务案例名称", "服务方向", "服务能力", "典型案例介绍", "服务成效",
        "承诺申明",
    ],
}
# The check boxes (□) of the contest forms; "with text" marks the ones followed by a blank.
HENAN_CONTEST_2025_CHOICES = {
    "赛道方向": ["清洁生产技术创新成果", "节能降碳技术创新成果", "资源高效利用技术创新成果"],
    "单位性质": ["国有", "集体", "民营", "中外合资", "港澳台", "外商独资"],
    "技术类别": ["清洁生产技术", "节能降碳技术", "资源高效利用技术"],
    "技术所处阶段": ["研发类", "应用类"],
    "知识产权情况": ["完全自主知识产权", "共享知识产权，共享人", "获授权使用，授权人"],
    "服务方向": ["绿色制造关键工艺系统解决方案", "绿色制造咨询评价服务", "末端污染物协同治理技术",
                 "其他，具体为"],
}
HENAN_CONTEST_2025_WITH_TEXT = {"共享知识产权，共享人", "获授权使用，授权人", "其他，具体为"}
HENAN_CONTEST_2025_ATTACHMENTS: dict[str | None, list[str]] = {
    "technology": ["营业执照", "研发机构证明材料", "技术专利证书", "科技奖励或行业奖励证明", "效果评价报告",
                   "用户使用报告", "其他可以佐证所申报技术"],
    "product": ["营业执照", "原辅材料清单", "原辅材料检测报告", "有毒有害物质减量或替代",
                "可回收料替代不可回收料", "单位产品能源消耗计算及对标", "产品能效", "环境检测报告",
                "产品检测报告", "产品碳足迹报告",
                "减少产品碳足迹相关措施", "其他可以佐证绿色设计产品"],
    "service_case": ["营业执照", "人员方面证明材料", "相关资质证明材料", "服务客户数量", "绿色绩效证明材料",
                     "服务案例相关证明材料", "其他相关佐证材料"],
}

# Every program and form variant with its checklist.
SEED_FIELDS: dict[str, dict[str | None, list[str]]] = {
    "henan_dcmc_2023": {None: HENAN_DCMC_2023},
    "shanghai_emc_2024": dict(SHANGHAI_EMC_2024),
    "henan_contest_2025": dict(HENAN_CONTEST_2025),
}
# Attachment kinds per program and variant: each entry is words the kind's label contains.
SEED_ATTACHMENTS: dict[str, dict[str | None, list[str]]] = {
    "henan_dcmc_2023": {None: HENAN_DCMC_2023_ATTACHMENTS},
    "shanghai_emc_2024": {"enterprise": SHANGHAI_EMC_2024_ATTACHMENTS, "park": SHANGHAI_EMC_2024_ATTACHMENTS},
    "henan_contest_2025": dict(HENAN_CONTEST_2025_ATTACHMENTS),
}
