"""The self-supervised methods the zoo holds, by the name entries use: each one's title and paper (what a card
cites, and timm's pretrained cfg names as `paper_ids`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    key: str  # the bibtex key
    title: str
    authors: str
    venue: str
    year: int
    arxiv: str  # the arXiv id

    @property
    def paper_id(self) -> str:
        """As timm's pretrained cfg names papers."""
        return f"arXiv:{self.arxiv}"

    def bibtex(self) -> str:
        return (
            f"@inproceedings{{{self.key},\n  title     = {{{self.title}}},\n  author    = {{{self.authors}}},\n"
            f"  booktitle = {{{self.venue}}},\n  year      = {{{self.year}}},\n  eprint    = {{{self.arxiv}}}\n}}"
        )


@dataclass(frozen=True)
class Method:
    title: str
    paper: Paper | None = None


_SWAV = Paper(
    "caron2020swav",
    "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
    "Caron, Mathilde and Misra, Ishan and Mairal, Julien and Goyal, Priya and Bojanowski, Piotr and Joulin, Armand",
    "NeurIPS",
    2020,
    "2006.09882",
)
_PIRL = Paper(
    "misra2020pirl",
    "Self-Supervised Learning of Pretext-Invariant Representations",
    "Misra, Ishan and van der Maaten, Laurens",
    "CVPR",
    2020,
    "1912.01991",
)
_ROTNET = Paper(
    "gidaris2018rotnet",
    "Unsupervised Representation Learning by Predicting Image Rotations",
    "Gidaris, Spyros and Singh, Praveer and Komodakis, Nikos",
    "ICLR",
    2018,
    "1803.07728",
)
_DCL = Paper(
    "yeh2022dcl",
    "Decoupled Contrastive Learning",
    "Yeh, Chun-Hsiao and Hong, Cheng-Yao and Hsu, Yen-Chi and Liu, Tyng-Luh and Chen, Yubei and LeCun, Yann",
    "ECCV",
    2022,
    "2110.06848",
)
METHODS = {
    "simsiam": Method(
        "SimSiam",
        Paper(
            "chen2021simsiam",
            "Exploring Simple Siamese Representation Learning",
            "Chen, Xinlei and He, Kaiming",
            "CVPR",
            2021,
            "2011.10566",
        ),
    ),
    "mocov1": Method(
        "MoCo v1",
        Paper(
            "he2020moco",
            "Momentum Contrast for Unsupervised Visual Representation Learning",
            "He, Kaiming and Fan, Haoqi and Wu, Yuxin and Xie, Saining and Girshick, Ross",
            "CVPR",
            2020,
            "1911.05722",
        ),
    ),
    "mocov2": Method(
        "MoCo v2",
        Paper(
            "chen2020mocov2",
            "Improved Baselines with Momentum Contrastive Learning",
            "Chen, Xinlei and Fan, Haoqi and Girshick, Ross and He, Kaiming",
            "arXiv",
            2020,
            "2003.04297",
        ),
    ),
    "mocov3": Method(
        "MoCo v3",
        Paper(
            "chen2021mocov3",
            "An Empirical Study of Training Self-Supervised Vision Transformers",
            "Chen, Xinlei and Xie, Saining and He, Kaiming",
            "ICCV",
            2021,
            "2104.02057",
        ),
    ),
    "dino": Method(
        "DINO",
        Paper(
            "caron2021dino",
            "Emerging Properties in Self-Supervised Vision Transformers",
            "Caron, Mathilde and Touvron, Hugo and Misra, Ishan and J{\\'e}gou, Herv{\\'e} and Mairal, Julien and "
            "Bojanowski, Piotr and Joulin, Armand",
            "ICCV",
            2021,
            "2104.14294",
        ),
    ),
    # The citation in DINOv2's README (README.md:644-649@b8931f7); its models with registers cite a second paper
    # (README.md:653-658), which their entries' notes name.
    "dinov2": Method(
        "DINOv2",
        Paper(
            "oquab2023dinov2",
            "DINOv2: Learning Robust Visual Features without Supervision",
            "Oquab, Maxime and Darcet, Timoth{\\'e}e and Moutakanni, Theo and Vo, Huy V. and Szafraniec, Marc and "
            "Khalidov, Vasil and Fernandez, Pierre and Haziza, Daniel and Massa, Francisco and El-Nouby, Alaaeldin and "
            "Howes, Russell and Huang, Po-Yao and Xu, Hu and Sharma, Vasu and Li, Shang-Wen and Galuba, Wojciech and "
            "Rabbat, Mike and Assran, Mido and Ballas, Nicolas and Synnaeve, Gabriel and Misra, Ishan and Jegou, Herve "
            "and Mairal, Julien and Labatut, Patrick and Joulin, Armand and Bojanowski, Piotr",
            "arXiv",
            2023,
            "2304.07193",
        ),
    ),
    "mae": Method(
        "MAE",
        Paper(
            "he2022mae",
            "Masked Autoencoders Are Scalable Vision Learners",
            "He, Kaiming and Chen, Xinlei and Xie, Saining and Li, Yanghao and Doll{\\'a}r, Piotr and Girshick, Ross",
            "CVPR",
            2022,
            "2111.06377",
        ),
    ),
    # As mmpretrain's READMEs cite them (configs/milan/README.md:98-102 with the arXiv id of
    # mmpretrain/models/selfsup/milan.py:55-56; configs/eva/README.md:95-99), both arXiv preprints there.
    "milan": Method(
        "MILAN",
        Paper(
            "hou2022milan",
            "MILAN: Masked Image Pretraining on Language Assisted Representation",
            "Hou, Zejiang and Sun, Fei and Chen, Yen-Kuang and Xie, Yuan and Kung, S. Y.",
            "arXiv",
            2022,
            "2208.06049",
        ),
    ),
    # configs/maskfeat/README.md:79-84's bibtex, the arXiv id of mmpretrain/models/selfsup/maskfeat.py:164-165.
    "maskfeat": Method(
        "MaskFeat",
        Paper(
            "wei2022maskfeat",
            "Masked Feature Prediction for Self-Supervised Visual Pre-Training",
            "Wei, Chen and Fan, Haoqi and Xie, Saining and Wu, Chao-Yuan and Yuille, Alan and Feichtenhofer, Christoph",
            "CVPR",
            2022,
            "2112.09133",
        ),
    ),
    # configs/simmim/README.md:84-88's bibtex (its key), the arXiv id of configs/simmim/metafile.yml:12.
    "simmim": Method(
        "SimMIM",
        Paper(
            "xie2021simmim",
            "SimMIM: A Simple Framework for Masked Image Modeling",
            "Xie, Zhenda and Zhang, Zheng and Cao, Yue and Lin, Yutong and Bao, Jianmin and Yao, Zhuliang and Dai, Qi "
            "and Hu, Han",
            "CVPR",
            2022,
            "2111.09886",
        ),
    ),
    # As configs/mff/README.md:53-59 cites it (arXiv id: :3), and mmselfsup's configs/selfsup/pixmim/README.md:145-151.
    "mff": Method(
        "MFF",
        Paper(
            "liu2023mff",
            "Improving Pixel-based MIM by Reducing Wasted Modeling Capability",
            "Liu, Yuan and Zhang, Songyang and Chen, Jiacheng and Yu, Zhaohui and Chen, Kai and Lin, Dahua",
            "arXiv",
            2023,
            "2308.00261",
        ),
    ),
    "pixmim": Method(
        "PixMIM",
        Paper(
            "liu2023pixmim",
            "PixMIM: Rethinking Pixel Reconstruction in Masked Image Modeling",
            "Liu, Yuan and Zhang, Songyang and Chen, Jiacheng and Chen, Kai and Lin, Dahua",
            "arXiv",
            2023,
            "2303.02416",
        ),
    ),
    "eva": Method(
        "EVA",
        Paper(
            "fang2022eva",
            "EVA: Exploring the Limits of Masked Visual Representation Learning at Scale",
            "Fang, Yuxin and Wang, Wen and Xie, Binhui and Sun, Quan and Wu, Ledell and Wang, Xinggang and Huang, "
            "Tiejun and Wang, Xinlong and Cao, Yue",
            "arXiv",
            2022,
            "2211.07636",
        ),
    ),
    # configs/beit/README.md:81-88's bibtex (ICLR 2022), the arXiv id of its link (:3).
    "beit": Method(
        "BEiT",
        Paper(
            "bao2022beit",
            "BEiT: BERT Pre-Training of Image Transformers",
            "Bao, Hangbo and Dong, Li and Piao, Songhao and Wei, Furu",
            "ICLR",
            2022,
            "2106.08254",
        ),
    ),
    "ibot": Method(
        "iBOT",
        Paper(
            "zhou2022ibot",
            "iBOT: Image BERT Pre-Training with Online Tokenizer",
            "Zhou, Jinghao and Wei, Chen and Wang, Huiyu and Shen, Wei and Xie, Cihang and Yuille, Alan and Kong, Tao",
            "ICLR",
            2022,
            "2111.07832",
        ),
    ),
    "lejepa": Method(
        "LeJEPA",
        Paper(
            "balestriero2025lejepa",
            "LeJEPA: Provable and Scalable Self-Supervised Learning Without the Heuristics",
            "Balestriero, Randall and LeCun, Yann",
            "arXiv",
            2025,
            "2511.08544",
        ),
    ),
    # As the I-JEPA README cites it (README.md:149-154@52c1ae9), an arXiv preprint there.
    "ijepa": Method(
        "I-JEPA",
        Paper(
            "assran2023self",
            "Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture",
            "Assran, Mahmoud and Duval, Quentin and Misra, Ishan and Bojanowski, Piotr and Vincent, Pascal and "
            "Rabbat, Michael and LeCun, Yann and Ballas, Nicolas",
            "arXiv",
            2023,
            "2301.08243",
        ),
    ),
    "swav": Method("SwAV", _SWAV),
    "deepclusterv2": Method("DeepCluster-v2", _SWAV),  # introduced in the SwAV paper
    "selav2": Method("SeLa-v2", _SWAV),  # introduced in the SwAV paper
    "barlowtwins": Method(
        "Barlow Twins",
        Paper(
            "zbontar2021barlow",
            "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
            "Zbontar, Jure and Jing, Li and Misra, Ishan and LeCun, Yann and Deny, St{\\'e}phane",
            "ICML",
            2021,
            "2103.03230",
        ),
    ),
    "vicreg": Method(
        "VICReg",
        Paper(
            "bardes2022vicreg",
            "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning",
            "Bardes, Adrien and Ponce, Jean and LeCun, Yann",
            "ICLR",
            2022,
            "2105.04906",
        ),
    ),
    "vicregl": Method(
        "VICRegL",
        Paper(
            "bardes2022vicregl",
            "VICRegL: Self-Supervised Learning of Local Visual Features",
            "Bardes, Adrien and Ponce, Jean and LeCun, Yann",
            "NeurIPS",
            2022,
            "2210.01571",
        ),
    ),
    "byol": Method(
        "BYOL",
        Paper(
            "grill2020byol",
            "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
            "Grill, Jean-Bastien and others",
            "NeurIPS",
            2020,
            "2006.07733",
        ),
    ),
    "densecl": Method(
        "DenseCL",
        Paper(
            "wang2021densecl",
            "Dense Contrastive Learning for Self-Supervised Visual Pre-Training",
            "Wang, Xinlong and Zhang, Rufeng and Shen, Chunhua and Kong, Tao and Li, Lei",
            "CVPR",
            2021,
            "2011.09157",
        ),
    ),
    "simclr": Method(
        "SimCLR",
        Paper(
            "chen2020simclr",
            "A Simple Framework for Contrastive Learning of Visual Representations",
            "Chen, Ting and Kornblith, Simon and Norouzi, Mohammad and Hinton, Geoffrey",
            "ICML",
            2020,
            "2002.05709",
        ),
    ),
    "pirl": Method("PIRL", _PIRL),
    "npidpp": Method("NPID++", _PIRL),  # introduced in the PIRL paper
    "npid": Method(
        "NPID",
        Paper(
            "wu2018npid",
            "Unsupervised Feature Learning via Non-Parametric Instance Discrimination",
            "Wu, Zhirong and Xiong, Yuanjun and Yu, Stella X. and Lin, Dahua",
            "CVPR",
            2018,
            "1805.01978",
        ),
    ),
    "jigsaw": Method(
        "Jigsaw",
        Paper(
            "noroozi2016jigsaw",
            "Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles",
            "Noroozi, Mehdi and Favaro, Paolo",
            "ECCV",
            2016,
            "1603.09246",
        ),
    ),
    # VISSL's model zoo links the paper for its Colorization rows (MODEL_ZOO.md:104-109@09270ed).
    "colorization": Method(
        "Colorization",
        Paper(
            "zhang2016colorization",
            "Colorful Image Colorization",
            "Zhang, Richard and Isola, Phillip and Efros, Alexei A.",
            "ECCV",
            2016,
            "1603.08511",
        ),
    ),
    "rotnet": Method("RotNet", _ROTNET),  # mmselfsup calls it Rotation-Pred
    "relativeloc": Method(
        "Relative-Loc",
        Paper(
            "doersch2015relativeloc",
            "Unsupervised Visual Representation Learning by Context Prediction",
            "Doersch, Carl and Gupta, Abhinav and Efros, Alexei A.",
            "ICCV",
            2015,
            "1505.05192",
        ),
    ),
    "clusterfit": Method(
        "ClusterFit",
        Paper(
            "yan2020clusterfit",
            "ClusterFit: Improving Generalization of Visual Representations",
            "Yan, Xueting and Misra, Ishan and Gupta, Abhinav and Ghadiyaram, Deepti and Mahajan, Dhruv",
            "CVPR",
            2020,
            "1912.03330",
        ),
    ),
    "odc": Method(
        "ODC",
        Paper(
            "zhan2020odc",
            "Online Deep Clustering for Unsupervised Representation Learning",
            "Zhan, Xiaohang and Xie, Jiahao and Liu, Ziwei and Ong, Yew-Soon and Loy, Chen Change",
            "CVPR",
            2020,
            "2006.10645",
        ),
    ),
    "interclr": Method(
        "InterCLR",
        Paper(
            "xie2022interclr",
            "Delving into Inter-Image Invariance for Unsupervised Visual Representations",
            "Xie, Jiahao and Zhan, Xiaohang and Liu, Ziwei and Ong, Yew-Soon and Loy, Chen Change",
            "IJCV",
            2022,
            "2008.11702",
        ),
    ),
    "spark": Method(
        "SparK",
        Paper(
            "tian2023spark",
            "Designing BERT for Convolutional Networks: Sparse and Hierarchical Masked Modeling",
            "Tian, Keyu and Jiang, Yi and Diao, Qishuai and Lin, Chen and Wang, Liwei and Yuan, Zehuan",
            "ICLR",
            2023,
            "2301.03580",
        ),
    ),
    "dcl": Method("SimCLR + DCL", _DCL),
    "dclw": Method("SimCLR + DCLW", _DCL),  # DCL's weighted variant, in the same paper
    "tico": Method(
        "TiCo",
        Paper(
            "zhu2022tico",
            "TiCo: Transformation Invariance and Covariance Contrast for Self-Supervised Visual Representation "
            "Learning",
            "Zhu, Jiachen and Moraes, Rafael M. and Karakulak, Serkan and Sobol, Vlad and Canziani, Alfredo and "
            "LeCun, Yann",
            "arXiv",
            2022,
            "2206.10698",
        ),
    ),
    "supervised": Method(
        "supervised",
        Paper(
            "he2016resnet",
            "Deep Residual Learning for Image Recognition",
            "He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian",
            "CVPR",
            2016,
            "1512.03385",
        ),
    ),
}
